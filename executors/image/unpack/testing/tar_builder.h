// Test helpers for the layer unpacker: tar streams built with libarchive's
// writer (pax, so xattrs and long or hostile names go through as written), raw
// ustar headers for what libarchive would not write, gzip/zstd compression
// and a memfd holding a blob.
//
//   std::string tar = MakeTar({TarFile("etc/motd", "hi"), TarDir("tmp", 01777)});
//   UniqueFd blob = BlobFd(Gzip(tar));
#ifndef CONVERGE_EXECUTORS_IMAGE_UNPACK_TESTING_TAR_BUILDER_H_
#define CONVERGE_EXECUTORS_IMAGE_UNPACK_TESTING_TAR_BUILDER_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "executors/namespace/unique_fd.h"

namespace converge {

struct TarEntry {
  std::string name;
  mode_t type = 0;  // AE_IF*
  mode_t perm = 0644;
  int64_t uid = 0;
  int64_t gid = 0;
  int64_t mtime = 1700000000;
  long mtime_nsec = 0;
  std::string data;      // regular files
  std::string symlink;   // symlinks
  std::string hardlink;  // hard links
  unsigned int rdev_major = 0;
  unsigned int rdev_minor = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;
};

TarEntry TarFile(std::string name, std::string data, mode_t perm = 0644);
TarEntry TarDir(std::string name, mode_t perm = 0755);
TarEntry TarSymlink(std::string name, std::string target);
TarEntry TarHardLink(std::string name, std::string target);
TarEntry TarDevice(std::string name, mode_t type, unsigned int major, unsigned int minor);
TarEntry TarFifo(std::string name);

// A pax tar stream (full pax, so sub-second times are kept), padded to libarchive's 10240-byte
// records.
std::string MakeTar(const std::vector<TarEntry>& entries);

// One raw ustar header (plus its data, padded) with `name` and `linkname`
// copied byte for byte, preceded by a pax header holding `pax` records when
// there are any: for names libarchive's writer would not produce as given.
// Append std::string(1024, '\0') to end the archive.
std::string RawTarEntry(const std::string& name, char typeflag, const std::string& data,
                        const std::string& linkname = "",
                        const std::vector<std::pair<std::string, std::string>>& pax = {});

std::string Gzip(const std::string& data);
std::string Zstd(const std::string& data);

// A memfd holding `content`, positioned at its start.
UniqueFd BlobFd(const std::string& content);

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_IMAGE_UNPACK_TESTING_TAR_BUILDER_H_
