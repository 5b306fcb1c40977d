#include "executors/image/content_store.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/status_macros.h"

namespace converge {
namespace {

namespace fs = std::filesystem;

absl::Status MakeDirs(const std::string& path) {
  std::error_code error;
  fs::create_directories(path, error);
  if (error) return ErrnoError(error.value(), "create directory `", path, "`");
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "write `", path, "`");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

class FileWriter : public ContentStore::Writer {
 public:
  FileWriter(UniqueFd fd, std::string ingest_path, std::string blobs_dir, Digest expected,
             int64_t expected_size)
      : fd_(std::move(fd)),
        ingest_path_(std::move(ingest_path)),
        blobs_dir_(std::move(blobs_dir)),
        expected_(std::move(expected)),
        expected_size_(expected_size) {}

  ~FileWriter() override {
    if (!committed_) ::unlink(ingest_path_.c_str());
  }

  absl::Status Write(absl::string_view data) override {
    if (expected_size_ >= 0 && written_ + static_cast<int64_t>(data.size()) > expected_size_) {
      return absl::DataLossError(absl::StrCat("blob ", expected_.str(), ": more than the ",
                                              expected_size_, " bytes its descriptor declares"));
    }
    CONVERGE_RETURN_IF_ERROR(WriteAll(fd_.get(), data, ingest_path_));
    hasher_.Update(data);
    written_ += static_cast<int64_t>(data.size());
    return absl::OkStatus();
  }

  int64_t written() const override { return written_; }

  absl::Status Commit() override {
    if (expected_size_ >= 0 && written_ != expected_size_) {
      return absl::DataLossError(absl::StrCat("blob ", expected_.str(), ": got ", written_,
                                              " bytes, its descriptor declares ",
                                              expected_size_));
    }
    Digest actual = hasher_.Finish();
    if (!expected_.empty() && actual != expected_) {
      return absl::DataLossError(absl::StrCat("blob ", expected_.str(),
                                              ": content has digest ", actual.str()));
    }
    // Synced before the rename so that a blob under its final name is whole
    // even after a power loss.
    if (::fdatasync(fd_.get()) != 0) return ErrnoError(errno, "fdatasync `", ingest_path_, "`");
    const std::string blob_path = absl::StrCat(blobs_dir_, "/", actual.hex());
    if (::rename(ingest_path_.c_str(), blob_path.c_str()) != 0) {
      return ErrnoError(errno, "rename `", ingest_path_, "` to `", blob_path, "`");
    }
    committed_ = true;
    expected_ = actual;
    return absl::OkStatus();
  }

  const Digest& digest() const override { return expected_; }

 private:
  UniqueFd fd_;
  std::string ingest_path_;
  std::string blobs_dir_;
  Digest expected_;
  int64_t expected_size_;
  Sha256 hasher_;
  int64_t written_ = 0;
  bool committed_ = false;
};

class FileContentStore : public ContentStore {
 public:
  explicit FileContentStore(const std::string& root)
      : blobs_(root + "/blobs/sha256"), ingest_(root + "/ingest") {}

  bool Has(const Digest& digest) const override {
    struct stat st;
    return ::stat(BlobPath(digest).c_str(), &st) == 0;
  }

  absl::StatusOr<int64_t> Size(const Digest& digest) const override {
    struct stat st;
    const std::string path = BlobPath(digest);
    if (::stat(path.c_str(), &st) != 0) return ErrnoError(errno, "stat `", path, "`");
    return static_cast<int64_t>(st.st_size);
  }

  absl::StatusOr<UniqueFd> Open(const Digest& digest) const override {
    const std::string path = BlobPath(digest);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd.valid()) return ErrnoError(errno, "open blob `", path, "`");
    return fd;
  }

  absl::StatusOr<std::string> Read(const Digest& digest, int64_t max_bytes) const override {
    CONVERGE_ASSIGN_OR_RETURN(UniqueFd fd, Open(digest));
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return ErrnoError(errno, "stat `", BlobPath(digest), "`");
    if (st.st_size > max_bytes) {
      return absl::FailedPreconditionError(absl::StrCat(
          "blob ", digest.str(), " is ", st.st_size, " bytes, more than ", max_bytes));
    }
    std::string data(static_cast<size_t>(st.st_size), '\0');
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::pread(fd.get(), data.data() + done, data.size() - done, done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoError(errno, "read `", BlobPath(digest), "`");
      if (n == 0) return absl::DataLossError(absl::StrCat("blob ", digest.str(), " shrank"));
      done += static_cast<size_t>(n);
    }
    return data;
  }

  absl::StatusOr<std::unique_ptr<Writer>> NewWriter(const Digest& expected,
                                                    int64_t expected_size) override {
    const std::string path =
        absl::StrCat(ingest_, "/", expected.empty() ? "unknown" : expected.hex(), ".",
                     ::getpid(), ".", next_ingest_.fetch_add(1));
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd.valid()) return ErrnoError(errno, "create ingest file `", path, "`");
    return std::unique_ptr<Writer>(
        new FileWriter(std::move(fd), path, blobs_, expected, expected_size));
  }

  absl::Status Put(const Digest& expected, absl::string_view data) override {
    CONVERGE_ASSIGN_OR_RETURN(auto writer,
                              NewWriter(expected, static_cast<int64_t>(data.size())));
    CONVERGE_RETURN_IF_ERROR(writer->Write(data));
    return writer->Commit();
  }

  absl::Status Delete(const Digest& digest) override {
    const std::string path = BlobPath(digest);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoError(errno, "remove blob `", path, "`");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<Digest>> List() const override {
    std::vector<Digest> out;
    std::error_code error;
    for (fs::directory_iterator it(blobs_, error), end; !error && it != end;
         it.increment(error)) {
      auto digest = Digest::Parse("sha256:" + it->path().filename().string());
      if (digest.ok()) out.push_back(*digest);
    }
    if (error) return ErrnoError(error.value(), "list `", blobs_, "`");
    std::sort(out.begin(), out.end());
    return out;
  }

  absl::StatusOr<Usage> DiskUsage() const override {
    Usage usage;
    std::error_code error;
    for (fs::directory_iterator it(blobs_, error), end; !error && it != end;
         it.increment(error)) {
      struct stat st;
      if (::lstat(it->path().c_str(), &st) != 0) continue;  // deleted meanwhile
      usage.bytes += static_cast<uint64_t>(st.st_blocks) * 512;
      usage.inodes += 1;
    }
    if (error) return ErrnoError(error.value(), "list `", blobs_, "`");
    return usage;
  }

  absl::Status Init(Ingest ingest) {
    CONVERGE_RETURN_IF_ERROR(MakeDirs(blobs_));
    if (ingest == Ingest::kClear) {
      std::error_code error;
      fs::remove_all(ingest_, error);
      if (error) return ErrnoError(error.value(), "clear `", ingest_, "`");
    }
    return MakeDirs(ingest_);
  }

 private:
  std::string BlobPath(const Digest& digest) const { return blobs_ + "/" + digest.hex(); }

  const std::string blobs_;
  const std::string ingest_;
  std::atomic<uint64_t> next_ingest_{0};
};

}  // namespace

absl::StatusOr<std::unique_ptr<ContentStore>> ContentStore::Open(const std::string& root,
                                                                 Ingest ingest) {
  auto store = std::make_unique<FileContentStore>(root);
  CONVERGE_RETURN_IF_ERROR(store->Init(ingest));
  return std::unique_ptr<ContentStore>(std::move(store));
}

}  // namespace converge
