#include "executors/image/unpack/layer_unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "executors/image/unpack/rooted_dir.h"
#include "executors/namespace/unique_fd.h"

namespace converge {
namespace {

constexpr absl::string_view kWhiteoutPrefix = ".wh.";
constexpr absl::string_view kWhiteoutMetaPrefix = ".wh..wh.";
constexpr absl::string_view kOpaqueMarker = ".wh..wh..opq";
constexpr char kOpaqueXattr[] = "trusted.overlay.opaque";
// overlayfs reads its metadata from trusted.overlay.* (and from user.overlay.*
// when mounted with userxattr); a layer that carried them could redirect or
// hide lower files, so they never come from the tar.
constexpr absl::string_view kForbiddenXattrPrefixes[] = {"trusted.overlay.", "user.overlay."};
// libarchive hands over decompressed bytes in chunks of this size.
constexpr size_t kReadChunk = 128 * 1024;

struct ArchiveFree {
  void operator()(archive* a) const { archive_read_free(a); }
};

// Runs libarchive in the "C" locale on this thread. Under a UTF-8 locale it
// would normalise pax names to NFC (renaming files that a layer spells in
// NFD); under "C" it hands names over byte for byte and only warns that
// non-ASCII ones cannot be converted.
class CLocaleScope {
 public:
  static absl::StatusOr<std::unique_ptr<CLocaleScope>> Enter() {
    locale_t c = newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(0));
    if (c == static_cast<locale_t>(0)) return ErrnoError(errno, "newlocale C");
    return std::unique_ptr<CLocaleScope>(new CLocaleScope(c));
  }
  ~CLocaleScope() {
    uselocale(previous_);
    freelocale(c_);
  }
  CLocaleScope(const CLocaleScope&) = delete;
  CLocaleScope& operator=(const CLocaleScope&) = delete;

 private:
  explicit CLocaleScope(locale_t c) : c_(c), previous_(uselocale(c)) {}

  locale_t c_;
  locale_t previous_;
};

struct Times {
  struct timespec at[2];  // atime, mtime, as utimensat wants them
};

class Unpacker {
 public:
  Unpacker(std::unique_ptr<DecompressedStream> stream, UniqueFd root, std::string target_dir)
      : stream_(std::move(stream)),
        root_(std::move(root)),
        target_dir_(std::move(target_dir)),
        chunk_(kReadChunk) {}

  absl::StatusOr<UnpackStats> Run();

 private:
  static la_ssize_t ReadCallback(archive* a, void* opaque, const void** buffer);

  absl::Status OpenArchive();
  absl::Status Apply(archive_entry* entry);
  absl::Status ApplyWhiteout(archive_entry* entry, const std::string& parent_path,
                             const std::string& name);
  absl::Status ApplyHardLink(archive_entry* entry, int parent, const std::string& name,
                             const std::string& path);
  absl::Status WriteFileData(archive_entry* entry, int parent, const std::string& name,
                             const std::string& path);
  // Removes whatever is at `name` so a new entry can take its place; an
  // existing directory stays when `keep_directory` (dir-over-dir).
  absl::Status MakeRoom(int parent, const std::string& name, const std::string& path,
                        bool keep_directory);
  absl::Status SetMetadata(archive_entry* entry, int parent, const std::string& name,
                           const std::string& path);
  absl::Status SetOwner(archive_entry* entry, int parent, const std::string& name,
                        const std::string& path);
  absl::Status SetDirectoryTimes();
  // The reader's own error when it failed (DATA_LOSS or errno), else
  // libarchive's message as DATA_LOSS: the tar stream itself is malformed.
  absl::Status ArchiveError(absl::string_view what) const;
  std::string Display(const std::string& path) const {
    return path.empty() ? target_dir_ : absl::StrCat(target_dir_, "/", path);
  }

  std::unique_ptr<DecompressedStream> stream_;
  UniqueFd root_;
  const std::string target_dir_;
  std::unique_ptr<archive, ArchiveFree> archive_;
  std::vector<char> chunk_;
  absl::Status read_status_;
  UnpackStats stats_;
  // Set last: creating entries inside a directory changes its times.
  std::map<std::string, Times> directory_times_;
};

la_ssize_t Unpacker::ReadCallback(archive* a, void* opaque, const void** buffer) {
  auto* self = static_cast<Unpacker*>(opaque);
  absl::StatusOr<size_t> n = self->stream_->Read(self->chunk_.data(), self->chunk_.size());
  if (!n.ok()) {
    self->read_status_ = n.status();
    archive_set_error(a, EIO, "%s", std::string(n.status().message()).c_str());
    return ARCHIVE_FATAL;
  }
  *buffer = self->chunk_.data();
  return static_cast<la_ssize_t>(*n);
}

absl::Status Unpacker::ArchiveError(absl::string_view what) const {
  if (!read_status_.ok()) return read_status_;
  const char* message = archive_error_string(archive_.get());
  return absl::DataLossError(
      absl::StrCat(what, ": ", message != nullptr ? message : "unknown libarchive error"));
}

absl::Status Unpacker::OpenArchive() {
  archive_.reset(archive_read_new());
  if (archive_ == nullptr) return absl::ResourceExhaustedError("archive_read_new failed");
  // Only tar parsing: decompression happened in `stream_`, so the bytes
  // libarchive sees are exactly the ones hashed into the diff id. The empty
  // format accepts a zero-byte layer as an empty archive, as containerd does.
  if (archive_read_support_format_tar(archive_.get()) != ARCHIVE_OK ||
      archive_read_support_format_empty(archive_.get()) != ARCHIVE_OK ||
      archive_read_support_filter_none(archive_.get()) != ARCHIVE_OK ||
      archive_read_open(archive_.get(), this, nullptr, &Unpacker::ReadCallback, nullptr) !=
          ARCHIVE_OK) {
    return ArchiveError("open tar stream");
  }
  return absl::OkStatus();
}

absl::StatusOr<UnpackStats> Unpacker::Run() {
  CONVERGE_RETURN_IF_ERROR(OpenArchive());
  for (;;) {
    archive_entry* entry = nullptr;
    int r = archive_read_next_header(archive_.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    // ARCHIVE_WARN is a non-ASCII name (kept as is, see CLocaleScope) or a
    // pax record libarchive skipped; the entry is still whole, as for bsdtar.
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) return ArchiveError("read tar header");
    ++stats_.entries;
    const char* name = archive_entry_pathname(entry);
    CONVERGE_RETURN_IF_ERROR(
        Annotate(Apply(entry), "layer entry \"", name != nullptr ? name : "", "\""));
  }
  // The diff id covers the whole stream, not just what libarchive parsed.
  CONVERGE_RETURN_IF_ERROR(stream_->Drain());
  CONVERGE_RETURN_IF_ERROR(SetDirectoryTimes());
  stats_.diff_id = stream_->Finish();
  return stats_;
}

absl::Status Unpacker::Apply(archive_entry* entry) {
  const char* raw_name = archive_entry_pathname(entry);
  // A NUL inside a name cannot reach us: libarchive's C strings end at it
  // (pax `path=a<NUL>b` arrives as `a`), which still lands inside the root.
  if (raw_name == nullptr || *raw_name == '\0') {
    return absl::InvalidArgumentError("tar entry with an empty name");
  }
  const std::string path = CleanEntryPath(raw_name);
  // AUFS keeps its bookkeeping (hard link farm, orphans) in `.wh..wh.*`
  // directories at the root; overlayfs has no use for any of it.
  if (absl::StartsWith(path, kWhiteoutMetaPrefix) && path != kOpaqueMarker) {
    return absl::OkStatus();
  }
  auto [parent_path, name] = SplitParent(path);
  if (absl::StartsWith(name, kWhiteoutPrefix)) return ApplyWhiteout(entry, parent_path, name);

  const mode_t type = archive_entry_filetype(entry);
  if (path.empty()) {
    // The `.` entry carries the layer root's metadata, nothing to create.
    if (type != AE_IFDIR) {
      return absl::InvalidArgumentError("the layer root is not a directory");
    }
    return SetMetadata(entry, root_.get(), name, path);
  }
  CONVERGE_ASSIGN_OR_RETURN(UniqueFd parent, MakeDirsInRoot(root_.get(), target_dir_, parent_path));
  const char* c_name = name.c_str();

  if (archive_entry_hardlink(entry) != nullptr) {
    return ApplyHardLink(entry, parent.get(), name, path);
  }
  const bool is_directory = type == AE_IFDIR;
  CONVERGE_RETURN_IF_ERROR(MakeRoom(parent.get(), name, path, is_directory));
  switch (type) {
    case AE_IFREG:
      CONVERGE_RETURN_IF_ERROR(WriteFileData(entry, parent.get(), name, path));
      break;
    case AE_IFDIR:
      if (mkdirat(parent.get(), c_name, 0700) != 0 && errno != EEXIST) {
        return ErrnoError(errno, "mkdir `", Display(path), "`");
      }
      break;
    case AE_IFLNK: {
      const char* target = archive_entry_symlink(entry);
      if (target == nullptr) return absl::InvalidArgumentError("symlink without a target");
      if (symlinkat(target, parent.get(), c_name) != 0) {
        return ErrnoError(errno, "symlink `", Display(path), "` -> `", target, "`");
      }
      break;
    }
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO: {
      // Permission bits come from fchmodat below, untouched by the umask.
      const dev_t dev = makedev(archive_entry_rdevmajor(entry), archive_entry_rdevminor(entry));
      if (mknodat(parent.get(), c_name, type, type == AE_IFIFO ? 0 : dev) != 0) {
        return ErrnoError(errno, "mknod `", Display(path), "`");
      }
      break;
    }
    default:
      return absl::InvalidArgumentError(absl::StrFormat("unsupported tar entry type 0%o", type));
  }
  return SetMetadata(entry, parent.get(), name, path);
}

absl::Status Unpacker::ApplyWhiteout(archive_entry* entry, const std::string& parent_path,
                                     const std::string& name) {
  const bool opaque = name == kOpaqueMarker;
  // Other `.wh..wh.` names are AUFS bookkeeping too.
  if (!opaque && absl::StartsWith(name, kWhiteoutMetaPrefix)) return absl::OkStatus();
  CONVERGE_ASSIGN_OR_RETURN(UniqueFd parent, MakeDirsInRoot(root_.get(), target_dir_, parent_path));
  if (opaque) {
    // An O_PATH fd takes no fsetxattr; its /proc link leads to the directory.
    const std::string dir = absl::StrCat("/proc/self/fd/", parent.get());
    if (setxattr(dir.c_str(), kOpaqueXattr, "y", 1, 0) != 0) {
      return ErrnoError(errno, "setxattr ", kOpaqueXattr, " on `", Display(parent_path), "`");
    }
    return absl::OkStatus();
  }
  const std::string hidden = name.substr(kWhiteoutPrefix.size());
  if (hidden.empty() || hidden == "." || hidden == "..") {
    return absl::InvalidArgumentError("whiteout of no file");
  }
  const std::string path = parent_path.empty() ? hidden : absl::StrCat(parent_path, "/", hidden);
  CONVERGE_RETURN_IF_ERROR(MakeRoom(parent.get(), hidden, path, /*keep_directory=*/false));
  // overlayfs takes a 0/0 character device in a lower layer as "deleted".
  if (mknodat(parent.get(), hidden.c_str(), S_IFCHR, makedev(0, 0)) != 0) {
    return ErrnoError(errno, "mknod whiteout `", Display(path), "`");
  }
  return SetOwner(entry, parent.get(), hidden, path);
}

absl::Status Unpacker::ApplyHardLink(archive_entry* entry, int parent, const std::string& name,
                                     const std::string& path) {
  const std::string target = CleanEntryPath(archive_entry_hardlink(entry));
  if (target.empty() || target == path) {
    return absl::InvalidArgumentError(
        absl::StrCat("hard link to \"", archive_entry_hardlink(entry), "\""));
  }
  auto [target_parent_path, target_name] = SplitParent(target);
  UniqueFd target_parent(OpenDirInRoot(root_.get(), target_parent_path));
  struct stat st;
  if (!target_parent.valid() ||
      fstatat(target_parent.get(), target_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return absl::InvalidArgumentError(absl::StrCat(
          "hard link to \"", target, "\", which is not an earlier entry of the layer"));
    }
    return ErrnoError(errno, "stat `", Display(target), "`");
  }
  // The layer root started empty, so anything but a directory or one of our
  // whiteout devices there came from an earlier entry.
  if (S_ISDIR(st.st_mode) || (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0))) {
    return absl::InvalidArgumentError(
        absl::StrCat("hard link to \"", target, "\", which is not a file of the layer"));
  }
  CONVERGE_RETURN_IF_ERROR(MakeRoom(parent, name, path, /*keep_directory=*/false));
  // Flags 0: a symlink target is linked itself, never followed.
  if (linkat(target_parent.get(), target_name.c_str(), parent, name.c_str(), 0) != 0) {
    return ErrnoError(errno, "link `", Display(path), "` to `", Display(target), "`");
  }
  // The inode keeps the metadata its own entry gave it.
  return absl::OkStatus();
}

absl::Status Unpacker::WriteFileData(archive_entry* entry, int parent, const std::string& name,
                                     const std::string& path) {
  UniqueFd fd(
      openat(parent, name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoError(errno, "create `", Display(path), "`");
  for (;;) {
    const void* block = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    int r = archive_read_data_block(archive_.get(), &block, &size, &offset);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK) return ArchiveError(absl::StrCat("read data of `", Display(path), "`"));
    // Sparse files arrive as blocks at offsets; the holes stay holes.
    const char* data = static_cast<const char*>(block);
    size_t done = 0;
    while (done < size) {
      ssize_t n = pwrite(fd.get(), data + done, size - done, offset + done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoError(errno, "write `", Display(path), "`");
      done += static_cast<size_t>(n);
    }
    stats_.bytes += size;
  }
  // A sparse file may end in a hole.
  if (ftruncate(fd.get(), archive_entry_size(entry)) != 0) {
    return ErrnoError(errno, "truncate `", Display(path), "`");
  }
  return absl::OkStatus();
}

absl::Status Unpacker::MakeRoom(int parent, const std::string& name, const std::string& path,
                                bool keep_directory) {
  struct stat st;
  if (fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError(errno, "stat `", Display(path), "`");
  }
  if (keep_directory && S_ISDIR(st.st_mode)) return absl::OkStatus();
  return RemoveAllAt(parent, name, Display(path));
}

absl::Status Unpacker::SetOwner(archive_entry* entry, int parent, const std::string& name,
                                const std::string& path) {
  const la_int64_t uid = archive_entry_uid(entry);
  const la_int64_t gid = archive_entry_gid(entry);
  // (uid_t)-1 would mean "leave unchanged" to fchownat.
  if (uid < 0 || uid >= UINT32_MAX || gid < 0 || gid >= UINT32_MAX) {
    return absl::InvalidArgumentError(absl::StrCat("owner ", uid, ":", gid, " out of range"));
  }
  if (fchownat(parent, name.c_str(), static_cast<uid_t>(uid), static_cast<gid_t>(gid),
               AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoError(errno, "chown `", Display(path), "` to ", uid, ":", gid);
  }
  return absl::OkStatus();
}

absl::Status Unpacker::SetMetadata(archive_entry* entry, int parent, const std::string& name,
                                   const std::string& path) {
  const char* c_name = name.c_str();
  const mode_t type = archive_entry_filetype(entry);
  // Owner first: chown clears setuid/setgid and file capabilities.
  CONVERGE_RETURN_IF_ERROR(SetOwner(entry, parent, name, path));
  // Linux has no mode on symlinks. `name` was just created as a
  // non-symlink, so fchmodat (which follows) reaches the entry itself.
  if (type != AE_IFLNK) {
    const mode_t mode = archive_entry_perm(entry) & 07777;
    if (fchmodat(parent, c_name, mode, 0) != 0) {
      return ErrnoError(errno, "chmod `", Display(path), "` to ", absl::StrFormat("0%o", mode));
    }
  }
  // No lsetxattrat in glibc: /proc names the parent we resolved, and
  // lsetxattr does not follow the final component.
  const std::string proc_path = absl::StrCat("/proc/self/fd/", parent, "/", name);
  archive_entry_xattr_reset(entry);
  const char* xattr = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  while (archive_entry_xattr_next(entry, &xattr, &value, &size) == ARCHIVE_OK) {
    bool forbidden = false;
    for (absl::string_view prefix : kForbiddenXattrPrefixes) {
      forbidden = forbidden || absl::StartsWith(xattr, prefix);
    }
    if (forbidden) continue;
    if (lsetxattr(proc_path.c_str(), xattr, value, size, 0) != 0) {
      // A security.* label (SELinux, SMACK) from the build host means
      // nothing to a kernel without that LSM, which refuses it so.
      if (errno == EOPNOTSUPP && absl::StartsWith(xattr, "security.")) continue;
      return ErrnoError(errno, "setxattr ", xattr, " on `", Display(path), "`");
    }
  }
  Times times;
  times.at[1] = {archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)};
  times.at[0] = archive_entry_atime_is_set(entry)
                    ? timespec{archive_entry_atime(entry), archive_entry_atime_nsec(entry)}
                    : times.at[1];
  if (type == AE_IFDIR) {
    directory_times_[path] = times;
    return absl::OkStatus();
  }
  if (utimensat(parent, c_name, times.at, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoError(errno, "set times of `", Display(path), "`");
  }
  return absl::OkStatus();
}

absl::Status Unpacker::SetDirectoryTimes() {
  for (const auto& [path, times] : directory_times_) {
    auto [parent_path, name] = SplitParent(path);
    UniqueFd parent(OpenDirInRoot(root_.get(), parent_path));
    struct stat st;
    if (!parent.valid() || fstatat(parent.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      // Removed by a later entry, possibly through a symlinked parent.
      if (errno == ENOENT || errno == ENOTDIR) continue;
      return ErrnoError(errno, "stat `", Display(path), "`");
    }
    // Replaced by a later non-directory, which has its own times.
    if (!S_ISDIR(st.st_mode)) continue;
    if (utimensat(parent.get(), name.c_str(), times.at, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoError(errno, "set times of `", Display(path), "`");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<UnpackStats> UnpackLayer(int blob_fd, Compression compression,
                                        const std::string& target_dir) {
  UniqueFd root(open(target_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return ErrnoError(errno, "open `", target_dir, "`");
  CONVERGE_ASSIGN_OR_RETURN(std::unique_ptr<DecompressedStream> stream,
                            DecompressedStream::Open(blob_fd, compression));
  // Before libarchive starts: it looks the locale's charset up once.
  CONVERGE_ASSIGN_OR_RETURN(std::unique_ptr<CLocaleScope> locale, CLocaleScope::Enter());
  Unpacker unpacker(std::move(stream), std::move(root), target_dir);
  return unpacker.Run();
}

}  // namespace converge
