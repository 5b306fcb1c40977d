#include "executors/image/unpack/compression.h"

#include <string>
#include <vector>

#include "common/testing/status_testing.h"
#include "executors/image/unpack/testing/tar_builder.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

// Reads the stream to its end and returns what it produced.
absl::StatusOr<std::string> ReadAll(DecompressedStream& stream) {
  std::string out;
  char buf[1000];  // odd size: reads end mid-block and mid-member
  for (;;) {
    absl::StatusOr<size_t> n = stream.Read(buf, sizeof(buf));
    if (!n.ok()) return n.status();
    if (*n == 0) return out;
    out.append(buf, *n);
  }
}

absl::StatusOr<std::string> Decompress(const std::string& blob, Compression compression) {
  UniqueFd fd = BlobFd(blob);
  absl::StatusOr<std::unique_ptr<DecompressedStream>> stream =
      DecompressedStream::Open(fd.get(), compression);
  if (!stream.ok()) return stream.status();
  absl::StatusOr<std::string> out = ReadAll(**stream);
  if (out.ok() && (*stream)->Finish() != Digest::Of(*out)) {
    return absl::InternalError("hash does not cover exactly the bytes read");
  }
  return out;
}

// Compressible but not trivially so, and bigger than the input buffer.
std::string Sample(size_t size) {
  std::string data;
  for (size_t i = 0; data.size() < size; ++i) data += std::to_string(i * 7919 % 100003) + ",";
  data.resize(size);
  return data;
}

TEST(CompressionForMediaTypeTest, KnownLayerTypes) {
  const struct {
    const char* media_type;
    Compression want;
  } cases[] = {
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
  for (const auto& c : cases) {
    ASSERT_OK_AND_ASSIGN(Compression got, CompressionForMediaType(c.media_type));
    EXPECT_EQ(got, c.want) << c.media_type;
  }
}

TEST(CompressionForMediaTypeTest, OthersAreInvalidArgumentNamingTheType) {
  for (const char* media_type : {"application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
                                 "application/vnd.oci.image.config.v1+json",
                                 "application/vnd.oci.image.layer.v1.tar+bz2", ""}) {
    absl::StatusOr<Compression> got = CompressionForMediaType(media_type);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << media_type;
    EXPECT_NE(got.status().message().find(std::string("\"") + media_type + "\""),
              absl::string_view::npos)
        << got.status();
  }
}

TEST(DecompressedStreamTest, AllCompressionsYieldTheSameBytesAndHash) {
  const std::string data = Sample(1 << 20);
  for (const auto& [blob, compression] :
       std::vector<std::pair<std::string, Compression>>{{data, Compression::kNone},
                                                        {Gzip(data), Compression::kGzip},
                                                        {Zstd(data), Compression::kZstd}}) {
    ASSERT_OK_AND_ASSIGN(std::string out, Decompress(blob, compression));
    EXPECT_TRUE(out == data) << static_cast<int>(compression);
  }
}

TEST(DecompressedStreamTest, ReadsFromTheCurrentOffset) {
  UniqueFd fd = BlobFd("skipped" + Gzip("payload"));
  ASSERT_EQ(lseek(fd.get(), 7, SEEK_SET), 7);
  ASSERT_OK_AND_ASSIGN(auto stream, DecompressedStream::Open(fd.get(), Compression::kGzip));
  ASSERT_OK_AND_ASSIGN(std::string out, ReadAll(*stream));
  EXPECT_EQ(out, "payload");
}

TEST(DecompressedStreamTest, MultiMemberGzipAndMultiFrameZstdAreOneStream) {
  const std::string a = Sample(300000), b = "second part", c = Sample(5000);
  ASSERT_OK_AND_ASSIGN(std::string gz, Decompress(Gzip(a) + Gzip(b) + Gzip(c), Compression::kGzip));
  EXPECT_TRUE(gz == a + b + c);
  ASSERT_OK_AND_ASSIGN(std::string zs, Decompress(Zstd(a) + Zstd(b) + Zstd(c), Compression::kZstd));
  EXPECT_TRUE(zs == a + b + c);
}

TEST(DecompressedStreamTest, EmptyMembersAreAllowed) {
  ASSERT_OK_AND_ASSIGN(std::string out, Decompress(Gzip("") + Gzip("x"), Compression::kGzip));
  EXPECT_EQ(out, "x");
  ASSERT_OK_AND_ASSIGN(std::string plain, Decompress("", Compression::kNone));
  EXPECT_EQ(plain, "");
}

TEST(DecompressedStreamTest, TruncatedInputIsDataLoss) {
  const std::string data = Sample(200000);
  const std::string gz = Gzip(data), zs = Zstd(data);
  for (size_t cut : {size_t{0}, size_t{5}, gz.size() / 2, gz.size() - 1}) {
    absl::StatusOr<std::string> out = Decompress(gz.substr(0, cut), Compression::kGzip);
    EXPECT_EQ(out.status().code(), absl::StatusCode::kDataLoss) << cut << " " << out.status();
    EXPECT_NE(out.status().message().find("gzip"), absl::string_view::npos) << out.status();
  }
  for (size_t cut : {size_t{0}, size_t{3}, zs.size() / 2, zs.size() - 1}) {
    absl::StatusOr<std::string> out = Decompress(zs.substr(0, cut), Compression::kZstd);
    EXPECT_EQ(out.status().code(), absl::StatusCode::kDataLoss) << cut << " " << out.status();
    EXPECT_NE(out.status().message().find("zstd"), absl::string_view::npos) << out.status();
  }
}

TEST(DecompressedStreamTest, CorruptInputIsDataLoss) {
  const std::string data = Sample(200000);
  std::string gz = Gzip(data);
  gz[gz.size() / 2] ^= 0x55;
  gz[gz.size() / 2 + 1] ^= 0x55;
  EXPECT_EQ(Decompress(gz, Compression::kGzip).status().code(), absl::StatusCode::kDataLoss);
  std::string zs = Zstd(data);
  zs[zs.size() / 2] ^= 0x55;
  zs[zs.size() / 2 + 1] ^= 0x55;
  EXPECT_EQ(Decompress(zs, Compression::kZstd).status().code(), absl::StatusCode::kDataLoss);
  // A bad CRC in the trailer, and bytes after the last member that are not one.
  std::string crc = Gzip(data);
  crc[crc.size() - 6] ^= 1;
  EXPECT_EQ(Decompress(crc, Compression::kGzip).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Decompress(Gzip(data) + std::string(512, '\0'), Compression::kGzip).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(Decompress("not compressed at all", Compression::kGzip).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(Decompress("not compressed at all", Compression::kZstd).status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace converge
