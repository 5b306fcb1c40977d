#include "executors/image/unpack/testing/tar_builder.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace converge {
namespace {

// Test setup failing is a broken test, not a case to report.
void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "tar_builder: %s failed\n", what);
    std::abort();
  }
}

la_ssize_t AppendCallback(archive*, void* out, const void* buffer, size_t size) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buffer), size);
  return static_cast<la_ssize_t>(size);
}

}  // namespace

TarEntry TarFile(std::string name, std::string data, mode_t perm) {
  TarEntry entry;
  entry.name = std::move(name);
  entry.type = AE_IFREG;
  entry.perm = perm;
  entry.data = std::move(data);
  return entry;
}

TarEntry TarDir(std::string name, mode_t perm) {
  TarEntry entry;
  entry.name = std::move(name);
  entry.type = AE_IFDIR;
  entry.perm = perm;
  return entry;
}

TarEntry TarSymlink(std::string name, std::string target) {
  TarEntry entry;
  entry.name = std::move(name);
  entry.type = AE_IFLNK;
  entry.perm = 0777;
  entry.symlink = std::move(target);
  return entry;
}

TarEntry TarHardLink(std::string name, std::string target) {
  TarEntry entry;
  entry.name = std::move(name);
  entry.type = AE_IFREG;
  entry.hardlink = std::move(target);
  return entry;
}

TarEntry TarDevice(std::string name, mode_t type, unsigned int major, unsigned int minor) {
  TarEntry entry;
  entry.name = std::move(name);
  entry.type = type;
  entry.perm = 0666;
  entry.rdev_major = major;
  entry.rdev_minor = minor;
  return entry;
}

TarEntry TarFifo(std::string name) {
  TarEntry entry;
  entry.name = std::move(name);
  entry.type = AE_IFIFO;
  return entry;
}

std::string MakeTar(const std::vector<TarEntry>& entries) {
  std::string out;
  archive* a = archive_write_new();
  Check(a != nullptr, "archive_write_new");
  Check(archive_write_set_format_pax(a) == ARCHIVE_OK, "set pax format");
  Check(archive_write_open2(a, &out, nullptr, AppendCallback, nullptr, nullptr) == ARCHIVE_OK,
        "archive_write_open2");
  for (const TarEntry& e : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.name.c_str());
    archive_entry_set_filetype(entry, e.type);
    archive_entry_set_perm(entry, e.perm);
    archive_entry_set_uid(entry, e.uid);
    archive_entry_set_gid(entry, e.gid);
    archive_entry_set_mtime(entry, e.mtime, e.mtime_nsec);
    archive_entry_set_size(entry, static_cast<la_int64_t>(e.data.size()));
    if (!e.symlink.empty()) archive_entry_set_symlink(entry, e.symlink.c_str());
    if (!e.hardlink.empty()) {
      archive_entry_set_hardlink(entry, e.hardlink.c_str());
      archive_entry_set_size(entry, 0);
    }
    archive_entry_set_rdevmajor(entry, e.rdev_major);
    archive_entry_set_rdevminor(entry, e.rdev_minor);
    for (const auto& [name, value] : e.xattrs) {
      archive_entry_xattr_add_entry(entry, name.c_str(), value.data(), value.size());
    }
    Check(archive_write_header(a, entry) == ARCHIVE_OK, archive_error_string(a));
    if (e.hardlink.empty() && !e.data.empty()) {
      Check(archive_write_data(a, e.data.data(), e.data.size()) ==
                static_cast<la_ssize_t>(e.data.size()),
            "archive_write_data");
    }
    archive_entry_free(entry);
  }
  Check(archive_write_close(a) == ARCHIVE_OK, "archive_write_close");
  archive_write_free(a);
  return out;
}

namespace {

std::string UstarHeader(const std::string& name, char typeflag, size_t size,
                        const std::string& linkname) {
  char header[512] = {};
  std::memcpy(header, name.data(), std::min<size_t>(name.size(), 100));
  std::snprintf(header + 100, 8, "%07o", 0644);
  std::snprintf(header + 108, 8, "%07o", 0);
  std::snprintf(header + 116, 8, "%07o", 0);
  std::snprintf(header + 124, 12, "%011zo", size);
  std::snprintf(header + 136, 12, "%011o", 1700000000);
  header[156] = typeflag;
  std::memcpy(header + 157, linkname.data(), std::min<size_t>(linkname.size(), 100));
  std::memcpy(header + 257, "ustar", 6);
  std::memcpy(header + 263, "00", 2);
  std::memset(header + 148, ' ', 8);
  unsigned int sum = 0;
  for (unsigned char c : header) sum += c;
  std::snprintf(header + 148, 8, "%06o", sum);
  return std::string(header, sizeof(header));
}

std::string Padded(const std::string& data) {
  return data + std::string((512 - data.size() % 512) % 512, '\0');
}

}  // namespace

std::string RawTarEntry(const std::string& name, char typeflag, const std::string& data,
                        const std::string& linkname,
                        const std::vector<std::pair<std::string, std::string>>& pax) {
  std::string out;
  if (!pax.empty()) {
    std::string records;
    for (const auto& [key, value] : pax) {
      // "<length> key=value\n", the length counting its own digits.
      const size_t body = key.size() + value.size() + 3;
      size_t length = body + 1;
      while (std::to_string(length).size() + body != length) ++length;
      records += std::to_string(length) + " " + key + "=" + value + "\n";
    }
    out += UstarHeader("PaxHeader", 'x', records.size(), "") + Padded(records);
  }
  return out + UstarHeader(name, typeflag, data.size(), linkname) + Padded(data);
}

std::string Gzip(const std::string& data) {
  z_stream stream{};
  Check(deflateInit2(&stream, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) ==
            Z_OK,
        "deflateInit2");
  std::string out(deflateBound(&stream, data.size()), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  Check(deflate(&stream, Z_FINISH) == Z_STREAM_END, "deflate");
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

std::string Zstd(const std::string& data) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 3);
  Check(!ZSTD_isError(n), "ZSTD_compress");
  out.resize(n);
  return out;
}

UniqueFd BlobFd(const std::string& content) {
  UniqueFd fd(memfd_create("layer-blob", MFD_CLOEXEC));
  Check(fd.valid(), "memfd_create");
  Check(write(fd.get(), content.data(), content.size()) == static_cast<ssize_t>(content.size()),
        "write blob");
  Check(lseek(fd.get(), 0, SEEK_SET) == 0, "lseek blob");
  return fd;
}

}  // namespace converge
