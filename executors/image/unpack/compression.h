// Layer blob compression: which one a layer media type uses, and a pull-style
// reader that decompresses a blob and hashes every decompressed byte, so the
// diff id (sha256 of the uncompressed tar) falls out of reading the layer.
//
//   CONVERGE_ASSIGN_OR_RETURN(Compression compression,
//                             CompressionForMediaType(descriptor.media_type));
//   CONVERGE_ASSIGN_OR_RETURN(auto stream, DecompressedStream::Open(fd, compression));
//   char buf[4096];
//   CONVERGE_ASSIGN_OR_RETURN(size_t n, stream->Read(buf, sizeof buf));  // 0 at the end
//   ...
//   CONVERGE_RETURN_IF_ERROR(stream->Drain());
//   Digest diff_id = stream->Finish();
#ifndef CONVERGE_EXECUTORS_IMAGE_UNPACK_COMPRESSION_H_
#define CONVERGE_EXECUTORS_IMAGE_UNPACK_COMPRESSION_H_

#include <cstddef>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "executors/image/digest.h"

namespace converge {

enum class Compression { kNone, kGzip, kZstd };

// Maps the OCI and Docker layer media types (distributable, nondistributable
// and Docker "foreign") to their compression. Anything else, including
// encrypted layers, is INVALID_ARGUMENT naming the media type.
absl::StatusOr<Compression> CompressionForMediaType(absl::string_view media_type);

// Decompresses a blob read from an fd (from its current offset to EOF) and
// hashes the decompressed bytes. Not thread-safe; the fd is borrowed and must
// outlive the stream. Multi-member gzip and multi-frame zstd are read as one
// stream; a truncated or corrupt blob, or bytes after the last gzip member,
// are DATA_LOSS; a failed read(2) carries its errno.
class DecompressedStream {
 public:
  // One compression format's decoder; see compression.cc.
  class Decoder;

  static absl::StatusOr<std::unique_ptr<DecompressedStream>> Open(int fd, Compression compression);
  ~DecompressedStream();
  DecompressedStream(const DecompressedStream&) = delete;
  DecompressedStream& operator=(const DecompressedStream&) = delete;

  // Reads up to `size` (> 0) decompressed bytes into `buf`; 0 means the end
  // of the stream. After an error the stream must not be read again.
  absl::StatusOr<size_t> Read(char* buf, size_t size);
  // Reads (and hashes) the rest of the stream.
  absl::Status Drain();
  // The sha256 of every decompressed byte read so far.
  Digest Finish() { return hasher_.Finish(); }

 private:
  explicit DecompressedStream(std::unique_ptr<Decoder> decoder);

  std::unique_ptr<Decoder> decoder_;
  Sha256 hasher_;
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_IMAGE_UNPACK_COMPRESSION_H_
