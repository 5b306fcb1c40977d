#include "executors/image/layer_store.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "executors/namespace/unique_fd.h"

namespace converge {
namespace {

namespace fs = std::filesystem;

constexpr char kTmpPrefix[] = "tmp-";

absl::Status WriteUsage(const std::string& path, const LayerStore::Usage& usage) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoError(errno, "create `", path, "`");
  const std::string text = absl::StrCat(usage.bytes, " ", usage.inodes, "\n");
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    return ErrnoError(errno, "write `", path, "`");
  }
  return absl::OkStatus();
}

LayerStore::Usage ReadUsage(const std::string& path) {
  LayerStore::Usage usage;
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  std::vector<std::string> parts = absl::StrSplit(line, ' ');
  if (parts.size() == 2) {
    (void)absl::SimpleAtoi(parts[0], &usage.bytes);
    (void)absl::SimpleAtoi(parts[1], &usage.inodes);
  }
  return usage;
}

}  // namespace

absl::Status RemoveTree(const std::string& path) {
  std::error_code error;
  fs::remove_all(path, error);
  if (error) return ErrnoError(error.value(), "remove `", path, "`");
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<LayerStore>> LayerStore::Open(const std::string& root) {
  std::error_code error;
  fs::create_directories(root, error);
  if (error) return ErrnoError(error.value(), "create directory `", root, "`");
  std::unique_ptr<LayerStore> store(new LayerStore(root));
  CONVERGE_RETURN_IF_ERROR(store->RemoveLeftovers());
  return store;
}

absl::Status LayerStore::RemoveLeftovers() {
  std::vector<std::string> leftovers;
  std::error_code error;
  for (fs::directory_iterator it(root_, error), end; !error && it != end; it.increment(error)) {
    if (absl::StartsWith(it->path().filename().string(), kTmpPrefix)) {
      leftovers.push_back(it->path().string());
    }
  }
  if (error) return ErrnoError(error.value(), "list `", root_, "`");
  for (const std::string& path : leftovers) CONVERGE_RETURN_IF_ERROR(RemoveTree(path));
  return absl::OkStatus();
}

std::string LayerStore::Dir(const Digest& chain_id) const {
  return absl::StrCat(root_, "/", chain_id.hex(), "/fs");
}

bool LayerStore::Has(const Digest& chain_id) const {
  struct stat st;
  return ::stat(absl::StrCat(root_, "/", chain_id.hex()).c_str(), &st) == 0;
}

absl::Status LayerStore::Ensure(const Digest& chain_id, const Digest& diff_id,
                                const UnpackFn& unpack) {
  KeyedMutex::Lock lock(unpacking_, chain_id.hex());
  if (Has(chain_id)) return absl::OkStatus();
  const std::string tmp =
      absl::StrCat(root_, "/", kTmpPrefix, chain_id.hex(), "-", next_tmp_.fetch_add(1));
  const std::string tmp_fs = tmp + "/fs";
  std::error_code error;
  fs::create_directories(tmp_fs, error);
  if (error) return ErrnoError(error.value(), "create directory `", tmp_fs, "`");
  absl::Status status = [&]() -> absl::Status {
    CONVERGE_ASSIGN_OR_RETURN(Unpacked unpacked, unpack(tmp_fs));
    if (unpacked.diff_id != diff_id) {
      return absl::DataLossError(absl::StrCat("layer ", chain_id.str(), ": unpacked content has diff id ",
                                              unpacked.diff_id.str(), ", the image config says ",
                                              diff_id.str()));
    }
    CONVERGE_RETURN_IF_ERROR(WriteUsage(tmp + "/usage", unpacked.usage));
    // Written through before the rename, so that a layer under its final
    // name is whole after a power loss too (kill -9 needs no sync).
    UniqueFd dir(::open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid()) return ErrnoError(errno, "open `", tmp, "`");
    if (::syncfs(dir.get()) != 0) return ErrnoError(errno, "syncfs `", tmp, "`");
    const std::string final_dir = absl::StrCat(root_, "/", chain_id.hex());
    if (::rename(tmp.c_str(), final_dir.c_str()) != 0) {
      return ErrnoError(errno, "rename `", tmp, "` to `", final_dir, "`");
    }
    return absl::OkStatus();
  }();
  if (!status.ok()) (void)RemoveTree(tmp);
  return status;
}

absl::Status LayerStore::Remove(const Digest& chain_id) {
  KeyedMutex::Lock lock(unpacking_, chain_id.hex());
  const std::string dir = absl::StrCat(root_, "/", chain_id.hex());
  // Renamed out of the way first, so a crash half way through the delete
  // leaves a tmp- directory (collected at Open) and never a partial layer.
  const std::string doomed =
      absl::StrCat(root_, "/", kTmpPrefix, "rm-", chain_id.hex(), "-", next_tmp_.fetch_add(1));
  if (::rename(dir.c_str(), doomed.c_str()) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError(errno, "rename `", dir, "` to `", doomed, "`");
  }
  return RemoveTree(doomed);
}

absl::StatusOr<std::vector<Digest>> LayerStore::List() const {
  std::vector<Digest> out;
  std::error_code error;
  for (fs::directory_iterator it(root_, error), end; !error && it != end; it.increment(error)) {
    auto digest = Digest::Parse("sha256:" + it->path().filename().string());
    if (digest.ok()) out.push_back(*digest);
  }
  if (error) return ErrnoError(error.value(), "list `", root_, "`");
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<LayerStore::Usage> LayerStore::DiskUsage() const {
  CONVERGE_ASSIGN_OR_RETURN(std::vector<Digest> layers, List());
  Usage total;
  for (const Digest& chain_id : layers) {
    Usage usage = ReadUsage(absl::StrCat(root_, "/", chain_id.hex(), "/usage"));
    total.bytes += usage.bytes;
    total.inodes += usage.inodes;
  }
  return total;
}

}  // namespace converge
