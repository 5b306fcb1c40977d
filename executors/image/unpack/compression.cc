#include "executors/image/unpack/compression.h"

#include <errno.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/errors.h"

namespace converge {
namespace {

// Big enough that a layer costs few read(2)s, small enough to sit on the heap
// of every concurrent pull without notice.
constexpr size_t kInputBufferSize = 128 * 1024;

struct MediaTypeCompression {
  absl::string_view media_type;
  Compression compression;
};

constexpr MediaTypeCompression kLayerMediaTypes[] = {
    {"application/vnd.oci.image.layer.v1.tar", Compression::kNone},
    {"application/vnd.oci.image.layer.v1.tar+gzip", Compression::kGzip},
    {"application/vnd.oci.image.layer.v1.tar+zstd", Compression::kZstd},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar", Compression::kNone},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", Compression::kGzip},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", Compression::kZstd},
    {"application/vnd.docker.image.rootfs.diff.tar", Compression::kNone},
    {"application/vnd.docker.image.rootfs.diff.tar.gzip", Compression::kGzip},
    {"application/vnd.docker.image.rootfs.diff.tar.zstd", Compression::kZstd},
    {"application/vnd.docker.image.rootfs.foreign.diff.tar", Compression::kNone},
    {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", Compression::kGzip},
};

// Reads the blob fd in chunks for the decoders.
class Input {
 public:
  explicit Input(int fd) : fd_(fd) {}

  // Refills the buffer once it is used up; sets eof() when read(2) returns 0.
  absl::Status FillIfEmpty() {
    if (pos_ < size_ || eof_) return absl::OkStatus();
    ssize_t n;
    do {
      n = read(fd_, buffer_.data(), buffer_.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0) return ErrnoError(errno, "read layer blob fd ", fd_);
    pos_ = 0;
    size_ = static_cast<size_t>(n);
    eof_ = n == 0;
    return absl::OkStatus();
  }

  const unsigned char* data() const { return buffer_.data() + pos_; }
  size_t available() const { return size_ - pos_; }
  void Consume(size_t n) { pos_ += n; }
  // True once the fd is at EOF and every byte was handed out.
  bool exhausted() const { return eof_ && pos_ == size_; }

 private:
  int fd_;
  std::array<unsigned char, kInputBufferSize> buffer_;
  size_t pos_ = 0;
  size_t size_ = 0;
  bool eof_ = false;
};

}  // namespace

class DecompressedStream::Decoder {
 public:
  explicit Decoder(int fd) : input_(fd) {}
  virtual ~Decoder() = default;
  // Same contract as DecompressedStream::Read.
  virtual absl::StatusOr<size_t> Read(char* buf, size_t size) = 0;

 protected:
  Input input_;
};

namespace {

class PlainDecoder : public DecompressedStream::Decoder {
 public:
  using Decoder::Decoder;

  absl::StatusOr<size_t> Read(char* buf, size_t size) override {
    absl::Status filled = input_.FillIfEmpty();
    if (!filled.ok()) return filled;
    size_t n = std::min(size, input_.available());
    std::copy_n(input_.data(), n, buf);
    input_.Consume(n);
    return n;
  }
};

class GzipDecoder : public DecompressedStream::Decoder {
 public:
  using Decoder::Decoder;
  ~GzipDecoder() override {
    if (initialized_) inflateEnd(&stream_);
  }

  absl::Status Init() {
    // 16 + MAX_WBITS: expect (and check) the gzip header and trailer.
    int r = inflateInit2(&stream_, 16 + MAX_WBITS);
    if (r != Z_OK) return absl::ResourceExhaustedError(Message("inflateInit2", r));
    initialized_ = true;
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> Read(char* buf, size_t size) override {
    stream_.next_out = reinterpret_cast<Bytef*>(buf);
    stream_.avail_out = static_cast<uInt>(std::min<size_t>(size, UINT32_MAX));
    const uInt capacity = stream_.avail_out;
    while (stream_.avail_out == capacity) {
      absl::Status filled = input_.FillIfEmpty();
      if (!filled.ok()) return filled;
      if (member_done_) {
        if (input_.exhausted()) break;
        // More bytes after a member: gzip(1) and Go read them as the next
        // member; anything that is not one is corruption, not padding.
        int r = inflateReset(&stream_);
        if (r != Z_OK) return absl::InternalError(Message("inflateReset", r));
        member_done_ = false;
      }
      const size_t available = input_.available();
      stream_.next_in = const_cast<Bytef*>(input_.data());
      stream_.avail_in = static_cast<uInt>(available);
      int r = inflate(&stream_, Z_NO_FLUSH);
      input_.Consume(available - stream_.avail_in);
      if (r == Z_STREAM_END) {
        member_done_ = true;
      } else if (r == Z_BUF_ERROR && input_.exhausted()) {
        // No progress possible and no input left: the member never ended.
        return absl::DataLossError("gzip layer is truncated");
      } else if (r != Z_OK && r != Z_BUF_ERROR) {
        return absl::DataLossError(Message("gzip layer is corrupt", r));
      }
    }
    return capacity - stream_.avail_out;
  }

 private:
  std::string Message(absl::string_view what, int code) const {
    return absl::StrCat(what, ": ", stream_.msg != nullptr ? stream_.msg : zError(code));
  }

  z_stream stream_{};
  bool initialized_ = false;
  // False until the first member ends, so an empty blob is truncated too.
  bool member_done_ = false;
};

class ZstdDecoder : public DecompressedStream::Decoder {
 public:
  using Decoder::Decoder;
  ~ZstdDecoder() override { ZSTD_freeDCtx(context_); }

  absl::Status Init() {
    context_ = ZSTD_createDCtx();
    if (context_ == nullptr) return absl::ResourceExhaustedError("ZSTD_createDCtx failed");
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> Read(char* buf, size_t size) override {
    ZSTD_outBuffer out{buf, size, 0};
    while (out.pos == 0) {
      absl::Status filled = input_.FillIfEmpty();
      if (!filled.ok()) return filled;
      if (input_.exhausted() && frame_done_) break;
      ZSTD_inBuffer in{input_.data(), input_.available(), 0};
      size_t r = ZSTD_decompressStream(context_, &out, &in);
      if (ZSTD_isError(r)) {
        return absl::DataLossError(absl::StrCat("zstd layer is corrupt: ", ZSTD_getErrorName(r)));
      }
      input_.Consume(in.pos);
      // 0 means a frame is complete and flushed; another may follow.
      frame_done_ = r == 0;
      if (out.pos == 0 && in.pos == 0 && input_.exhausted()) {
        return absl::DataLossError("zstd layer is truncated");
      }
    }
    return out.pos;
  }

 private:
  ZSTD_DCtx* context_ = nullptr;
  // False until the first frame ends, so an empty blob is truncated too.
  bool frame_done_ = false;
};

}  // namespace

absl::StatusOr<Compression> CompressionForMediaType(absl::string_view media_type) {
  for (const MediaTypeCompression& known : kLayerMediaTypes) {
    if (known.media_type == media_type) return known.compression;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported layer media type \"", media_type, "\""));
}

absl::StatusOr<std::unique_ptr<DecompressedStream>> DecompressedStream::Open(
    int fd, Compression compression) {
  std::unique_ptr<Decoder> decoder;
  switch (compression) {
    case Compression::kNone:
      decoder = std::make_unique<PlainDecoder>(fd);
      break;
    case Compression::kGzip: {
      auto gzip = std::make_unique<GzipDecoder>(fd);
      absl::Status init = gzip->Init();
      if (!init.ok()) return init;
      decoder = std::move(gzip);
      break;
    }
    case Compression::kZstd: {
      auto zstd = std::make_unique<ZstdDecoder>(fd);
      absl::Status init = zstd->Init();
      if (!init.ok()) return init;
      decoder = std::move(zstd);
      break;
    }
  }
  return std::unique_ptr<DecompressedStream>(new DecompressedStream(std::move(decoder)));
}

DecompressedStream::DecompressedStream(std::unique_ptr<Decoder> decoder)
    : decoder_(std::move(decoder)) {}

DecompressedStream::~DecompressedStream() = default;

absl::StatusOr<size_t> DecompressedStream::Read(char* buf, size_t size) {
  absl::StatusOr<size_t> n = decoder_->Read(buf, size);
  if (n.ok()) hasher_.Update(buf, *n);
  return n;
}

absl::Status DecompressedStream::Drain() {
  std::vector<char> scratch(64 * 1024);
  for (;;) {
    absl::StatusOr<size_t> n = Read(scratch.data(), scratch.size());
    if (!n.ok()) return n.status();
    if (*n == 0) return absl::OkStatus();
  }
}

}  // namespace converge
