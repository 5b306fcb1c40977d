#include "executors/image/unpack/layer_unpack.h"

#include <archive_entry.h>
#include <fcntl.h>
#include <locale.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/testing/status_testing.h"
#include "executors/image/digest.h"
#include "executors/image/unpack/testing/tar_builder.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

namespace fs = std::filesystem;

// Every test unpacks into <tmp>/layer and checks that <tmp> holds nothing else
// afterwards, so an entry that escaped the layer directory is caught.
class LayerUnpackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "needs root (chown, mknod, trusted.* xattrs)";
    target_ = dir_.Sub("layer");
    outside_ = dir_.Sub("outside");
    fs::create_directories(target_);
    fs::create_directories(outside_);
    std::ofstream(outside_ + "/victim") << "original";
  }

  void TearDown() override {
    std::set<std::string> top;
    for (const auto& entry : fs::directory_iterator(dir_.path())) {
      top.insert(entry.path().filename().string());
    }
    EXPECT_EQ(top, (std::set<std::string>{"layer", "outside"}));
    std::set<std::string> outside;
    for (const auto& entry : fs::directory_iterator(outside_)) {
      outside.insert(entry.path().filename().string());
    }
    EXPECT_EQ(outside, std::set<std::string>{"victim"});
    EXPECT_EQ(Read(outside_ + "/victim"), "original");
    struct stat st;
    ASSERT_EQ(stat((outside_ + "/victim").c_str(), &st), 0);
    EXPECT_EQ(st.st_nlink, 1u);
  }

  absl::StatusOr<UnpackStats> Unpack(const std::string& blob,
                                     Compression compression = Compression::kNone) {
    UniqueFd fd = BlobFd(blob);
    return UnpackLayer(fd.get(), compression, target_);
  }

  std::string In(const std::string& path) const { return target_ + "/" + path; }

  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream out;
    out << in.rdbuf();
    return out.str();
  }

  static struct stat Lstat(const std::string& path) {
    struct stat st = {};
    EXPECT_EQ(lstat(path.c_str(), &st), 0) << path << ": " << strerror(errno);
    return st;
  }

  static bool Exists(const std::string& path) {
    struct stat st;
    return lstat(path.c_str(), &st) == 0;
  }

  static std::string Xattr(const std::string& path, const std::string& name) {
    char value[256];
    ssize_t n = lgetxattr(path.c_str(), name.c_str(), value, sizeof(value));
    return n < 0 ? "<none>" : std::string(value, n);
  }

  TempTestDir dir_;
  std::string target_;
  std::string outside_;
};

TEST_F(LayerUnpackTest, RegularFilesDirectoriesAndSymlinksKeepTheirMetadata) {
  TarEntry root = TarDir(".", 0751);
  root.mtime = 1500000000;
  TarEntry bin = TarDir("usr/bin", 0700);
  bin.uid = 5;
  bin.gid = 6;
  bin.mtime = 1600000000;
  bin.mtime_nsec = 123456789;
  TarEntry sudo = TarFile("usr/bin/sudo", "#!/bin/true\n", 04755);
  sudo.uid = 1000;
  sudo.gid = 2000;
  sudo.mtime_nsec = 5;
  TarEntry sgid = TarFile("usr/bin/sgid", "", 02711);
  sgid.gid = 7;
  TarEntry sticky = TarDir("tmp", 01777);
  TarEntry link = TarSymlink("usr/bin/sh", "../../bin/dash");
  link.uid = 33;
  link.gid = 34;
  link.mtime = 1400000000;
  ASSERT_OK_AND_ASSIGN(UnpackStats stats,
                       Unpack(MakeTar({root, TarDir("usr"), bin, sudo, sgid, sticky, link,
                                       TarFile("./etc/motd", "hello\n", 0600)})));
  EXPECT_EQ(stats.entries, 8u);
  EXPECT_EQ(stats.bytes, 18u);

  struct stat st = Lstat(In("usr/bin/sudo"));
  EXPECT_EQ(st.st_mode, S_IFREG | 04755);
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_gid, 2000u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1700000000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 5);
  EXPECT_EQ(Read(In("usr/bin/sudo")), "#!/bin/true\n");
  EXPECT_EQ(Lstat(In("usr/bin/sgid")).st_mode, S_IFREG | 02711);
  EXPECT_EQ(Lstat(In("tmp")).st_mode, S_IFDIR | 01777);
  EXPECT_EQ(Read(In("etc/motd")), "hello\n");
  // etc was implied by etc/motd.
  EXPECT_EQ(Lstat(In("etc")).st_mode, S_IFDIR | 0755);

  // Directory times survive the entries created in them afterwards.
  st = Lstat(In("usr/bin"));
  EXPECT_EQ(st.st_mode, S_IFDIR | 0700);
  EXPECT_EQ(st.st_uid, 5u);
  EXPECT_EQ(st.st_gid, 6u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1600000000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 123456789);
  st = Lstat(target_);
  EXPECT_EQ(st.st_mode, S_IFDIR | 0751);
  EXPECT_EQ(st.st_mtim.tv_sec, 1500000000);

  st = Lstat(In("usr/bin/sh"));
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(st.st_uid, 33u);
  EXPECT_EQ(st.st_gid, 34u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1400000000);
  EXPECT_EQ(fs::read_symlink(In("usr/bin/sh")), "../../bin/dash");
}

TEST_F(LayerUnpackTest, HardLinksShareAnInode) {
  ASSERT_OK(Unpack(MakeTar({TarFile("a/file", "data", 0640), TarHardLink("b/link", "a/file"),
                            TarSymlink("sym", "/nowhere"), TarHardLink("symlink2", "sym")}))
                .status());
  struct stat file = Lstat(In("a/file")), link = Lstat(In("b/link"));
  EXPECT_EQ(file.st_ino, link.st_ino);
  EXPECT_EQ(file.st_nlink, 2u);
  EXPECT_EQ(Read(In("b/link")), "data");
  // A hard link to a symlink links the symlink itself.
  EXPECT_EQ(Lstat(In("sym")).st_ino, Lstat(In("symlink2")).st_ino);
}

TEST_F(LayerUnpackTest, DevicesAndFifos) {
  ASSERT_OK(Unpack(MakeTar({TarDevice("dev/null", AE_IFCHR, 1, 3),
                            TarDevice("dev/loop9", AE_IFBLK, 7, 9), TarFifo("run/fifo")}))
                .status());
  struct stat st = Lstat(In("dev/null"));
  EXPECT_EQ(st.st_mode, S_IFCHR | 0666);
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
  st = Lstat(In("dev/loop9"));
  EXPECT_EQ(st.st_mode, S_IFBLK | 0666);
  EXPECT_EQ(st.st_rdev, makedev(7, 9));
  EXPECT_EQ(Lstat(In("run/fifo")).st_mode, S_IFIFO | 0644);
}

TEST_F(LayerUnpackTest, WhiteoutsBecomeOverlayWhiteouts) {
  TarEntry whiteout = TarFile("etc/.wh.passwd", "");
  whiteout.uid = 12;
  ASSERT_OK_AND_ASSIGN(
      UnpackStats stats,
      Unpack(MakeTar({TarDir("etc"), whiteout, TarFile(".wh.toplevel", ""),
                      TarFile("gone/.wh..wh..opq", ""), TarFile("var/.wh..wh..opq", ""),
                      TarDir("var", 0700), TarFile("var/new", "n"),
                      TarFile(".wh..wh.plnk/1234.5678", ""), TarFile("x/.wh..wh.aufs", "")})));
  EXPECT_EQ(stats.entries, 9u);
  struct stat st = Lstat(In("etc/passwd"));
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  EXPECT_EQ(st.st_uid, 12u);
  EXPECT_TRUE(S_ISCHR(Lstat(In("toplevel")).st_mode));
  EXPECT_FALSE(Exists(In("etc/.wh.passwd")));
  EXPECT_FALSE(Exists(In(".wh.toplevel")));

  // Opaque markers: the directory is created if the layer did not list it,
  // and a later entry for it keeps the marker.
  EXPECT_EQ(Xattr(In("gone"), "trusted.overlay.opaque"), "y");
  EXPECT_FALSE(Exists(In("gone/.wh..wh..opq")));
  EXPECT_EQ(Xattr(In("var"), "trusted.overlay.opaque"), "y");
  EXPECT_EQ(Lstat(In("var")).st_mode, S_IFDIR | 0700);
  EXPECT_EQ(Read(In("var/new")), "n");
  EXPECT_EQ(Xattr(In("etc"), "trusted.overlay.opaque"), "<none>");

  // AUFS bookkeeping is dropped (its directory was only implied).
  EXPECT_FALSE(Exists(In(".wh..wh.plnk/1234.5678")));
  EXPECT_FALSE(Exists(In("x/.wh..wh.aufs")));
}

TEST_F(LayerUnpackTest, PathTraversalIsClampedInsideTheLayer) {
  const std::string absolute = outside_ + "/absolute";
  ASSERT_OK(Unpack(MakeTar({TarFile("../outside/victim", "pwned"),
                            TarFile("../../../../outside/dotdot", "pwned"),
                            TarFile("a/../../outside/mixed", "pwned"), TarFile(absolute, "pwned"),
                            TarDir("/")}))
                .status());
  EXPECT_EQ(Read(In("outside/victim")), "pwned");
  EXPECT_EQ(Read(In("outside/dotdot")), "pwned");
  EXPECT_EQ(Read(In("outside/mixed")), "pwned");
  EXPECT_EQ(Read(In(absolute.substr(1))), "pwned");
  // TearDown checks the real outside directory is untouched.
}

TEST_F(LayerUnpackTest, SymlinksPlantedByTheLayerResolveInsideIt) {
  ASSERT_OK(Unpack(MakeTar({
                       TarSymlink("up", "../../.."),
                       TarFile("up/escaped-up", "x"),
                       TarSymlink("slash", "/"),
                       TarFile("slash/escaped-root", "x"),
                       TarDir("sub"),
                       TarSymlink("sub/deep", "../../../../.."),
                       TarFile("sub/deep/escaped-deep", "x"),
                       // The layer's own copy of the host path is what `abs` reaches.
                       TarDir(outside_),
                       TarSymlink("abs", outside_),
                       TarFile("abs/victim", "pwned"),
                       // A final component that is a symlink is replaced, not written through.
                       TarSymlink("through", outside_ + "/victim"),
                       TarFile("through", "replaced"),
                       TarSymlink("dev", "/dev"),
                       TarFile("dev", "replaced too"),
                   }))
                .status());
  EXPECT_EQ(Read(In("escaped-up")), "x");
  EXPECT_EQ(Read(In("escaped-root")), "x");
  EXPECT_EQ(Read(In("escaped-deep")), "x");
  EXPECT_EQ(Read(In(outside_.substr(1) + "/victim")), "pwned");
  EXPECT_TRUE(S_ISREG(Lstat(In("through")).st_mode));
  EXPECT_EQ(Read(In("through")), "replaced");
  EXPECT_EQ(Read(In("dev")), "replaced too");
}

TEST_F(LayerUnpackTest, SymlinkToAHostDirectoryTheLayerLacksFails) {
  // `evil` resolves to <layer>/<outside>, which this layer never created.
  absl::StatusOr<UnpackStats> stats =
      Unpack(MakeTar({TarSymlink("evil", outside_), TarFile("evil/victim", "pwned")}));
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kInvalidArgument) << stats.status();
  EXPECT_NE(stats.status().message().find("evil"), absl::string_view::npos) << stats.status();
  stats = Unpack(MakeTar({TarSymlink("rel", "../outside"), TarFile("rel/new", "pwned")}));
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kInvalidArgument) << stats.status();
}

TEST_F(LayerUnpackTest, HardLinksMustPointAtEarlierFilesOfTheLayer) {
  for (const std::string& target : std::vector<std::string>{
           "../outside/victim", outside_ + "/victim", "missing", "dir", "wh", ""}) {
    absl::StatusOr<UnpackStats> stats =
        Unpack(MakeTar({TarDir("dir"), TarFile(".wh.wh", ""),
                        TarHardLink("link", target.empty() ? "link" : target)}));
    EXPECT_EQ(stats.status().code(), absl::StatusCode::kInvalidArgument)
        << target << ": " << stats.status();
  }
  // Through a symlink planted in the layer, the target is still looked up
  // inside it.
  ASSERT_OK(Unpack(MakeTar({TarFile("etc/passwd", "layer"), TarSymlink("evil", "/etc"),
                            TarHardLink("link2", "evil/passwd")}))
                .status());
  EXPECT_EQ(Lstat(In("link2")).st_ino, Lstat(In("etc/passwd")).st_ino);
}

TEST_F(LayerUnpackTest, OverlayXattrsFromTheTarAreDropped) {
  TarEntry file = TarFile("file", "x");
  file.xattrs = {
      {"trusted.overlay.redirect", "/etc"},
      {"trusted.overlay.metacopy", ""},
      {"user.overlay.opaque", "y"},
      {"user.kept", "1"},
      {"trusted.kept", "2"},
      {"security.capability",
       std::string(
           "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
           20)}};
  file.perm = 0755;
  TarEntry dir = TarDir("dir");
  dir.xattrs = {{"trusted.overlay.opaque", "y"}, {"user.dir", "d"}};
  ASSERT_OK(Unpack(MakeTar({file, dir})).status());
  EXPECT_EQ(Xattr(In("file"), "trusted.overlay.redirect"), "<none>");
  EXPECT_EQ(Xattr(In("file"), "trusted.overlay.metacopy"), "<none>");
  EXPECT_EQ(Xattr(In("file"), "user.overlay.opaque"), "<none>");
  EXPECT_EQ(Xattr(In("file"), "user.kept"), "1");
  EXPECT_EQ(Xattr(In("file"), "trusted.kept"), "2");
  // Set after chown, which would have cleared it.
  EXPECT_EQ(Xattr(In("file"), "security.capability").size(), 20u);
  EXPECT_EQ(Xattr(In("dir"), "trusted.overlay.opaque"), "<none>");
  EXPECT_EQ(Xattr(In("dir"), "user.dir"), "d");
}

TEST_F(LayerUnpackTest, LaterEntriesReplaceEarlierOnes) {
  TarEntry dir_again = TarDir("keep", 0700);
  dir_again.uid = 9;
  ASSERT_OK(Unpack(MakeTar({
                       TarFile("f", "first"),
                       TarFile("f", "second"),
                       TarFile("a", "file"),
                       TarDir("a"),
                       TarFile("a/x", "x"),
                       TarDir("d"),
                       TarDir("d/sub"),
                       TarFile("d/sub/f", "f"),
                       TarFile("d", "now a file"),
                       TarSymlink("s", "/etc"),
                       TarFile("s", "file"),
                       TarFile("n", "file"),
                       TarSymlink("n", "target"),
                       TarDir("keep"),
                       TarFile("keep/child", "c"),
                       dir_again,
                       TarFile("p", "p"),
                       TarFifo("p"),
                   }))
                .status());
  EXPECT_EQ(Read(In("f")), "second");
  EXPECT_EQ(Read(In("a/x")), "x");
  EXPECT_EQ(Read(In("d")), "now a file");
  EXPECT_EQ(Read(In("s")), "file");
  EXPECT_EQ(fs::read_symlink(In("n")), "target");
  EXPECT_EQ(Read(In("keep/child")), "c");
  struct stat st = Lstat(In("keep"));
  EXPECT_EQ(st.st_mode, S_IFDIR | 0700);
  EXPECT_EQ(st.st_uid, 9u);
  EXPECT_TRUE(S_ISFIFO(Lstat(In("p")).st_mode));
}

TEST_F(LayerUnpackTest, OddModes) {
  ASSERT_OK(Unpack(MakeTar({TarDir("locked", 0), TarFile("locked/secret", "s", 0),
                            TarDir("locked/inner", 0), TarFile("locked/inner/f", "f", 0)}))
                .status());
  EXPECT_EQ(Lstat(In("locked")).st_mode, S_IFDIR | 0);
  EXPECT_EQ(Lstat(In("locked/secret")).st_mode, S_IFREG | 0);
  EXPECT_EQ(Read(In("locked/secret")), "s");
  EXPECT_EQ(Read(In("locked/inner/f")), "f");
}

TEST_F(LayerUnpackTest, NamesAreKeptByteForByte) {
  const std::string long_name = std::string(150, 'd') + "/" + std::string(200, 'f');
  const std::string nfc = "caf\xc3\xa9", nfd = "cafe\xcc\x81";
  // pax records in UTF-8 without hdrcharset, as Go's archive/tar writes them,
  // and a ustar name that is not UTF-8 at all.
  const std::string tar =
      RawTarEntry(long_name.substr(0, 100), '0', "long", "", {{"path", long_name}}) +
      RawTarEntry("x", '0', "nfc", "", {{"path", nfc + "/\xe6\x97\xa5"}}) +
      RawTarEntry("x", '0', "nfd", "", {{"path", nfd}}) +
      RawTarEntry("x", '2', "", "x", {{"path", "link-" + nfd}, {"linkpath", nfd}}) +
      RawTarEntry("x", '1', "", "x", {{"path", "hard-" + nfd}, {"linkpath", nfd}}) +
      RawTarEntry("latin1-\xe9", '0', "raw") + std::string(1024, '\0');
  // Whatever locale the daemon runs in, names are not converted.
  locale_t utf8 = newlocale(LC_ALL_MASK, "C.UTF-8", static_cast<locale_t>(0));
  ASSERT_NE(utf8, static_cast<locale_t>(0));
  locale_t previous = uselocale(utf8);
  absl::StatusOr<UnpackStats> stats = Unpack(tar);
  uselocale(previous);
  freelocale(utf8);
  ASSERT_OK(stats.status());
  EXPECT_EQ(Read(In(long_name)), "long");
  EXPECT_EQ(Read(In(nfc + "/\xe6\x97\xa5")), "nfc");
  EXPECT_EQ(Read(In(nfd)), "nfd");
  EXPECT_EQ(fs::read_symlink(In("link-" + nfd)).string(), nfd);
  EXPECT_EQ(Lstat(In("hard-" + nfd)).st_ino, Lstat(In(nfd)).st_ino);
  EXPECT_EQ(Read(In("latin1-\xe9")), "raw");
}

TEST_F(LayerUnpackTest, NulInAPaxNameCutsItThere) {
  // libarchive ends the name at the NUL; what is left is still contained.
  ASSERT_OK(Unpack(RawTarEntry("x", '0', "nul", "", {{"path", std::string("a\0/../../b", 10)}}) +
                   std::string(1024, '\0'))
                .status());
  EXPECT_EQ(Read(In("a")), "nul");
}

TEST_F(LayerUnpackTest, DiffIdIsTheSha256OfTheWholeTarWhateverTheCompression) {
  const std::string tar = MakeTar({TarFile("a", std::string(300000, 'a')), TarDir("b")});
  // libarchive pads to 10240-byte records, well past the end-of-archive blocks.
  ASSERT_EQ(tar.size() % 10240, 0u);
  const Digest want = Digest::Of(tar);
  for (const auto& [blob, compression] : std::vector<std::pair<std::string, Compression>>{
           {tar, Compression::kNone},
           {Gzip(tar), Compression::kGzip},
           {Zstd(tar), Compression::kZstd},
           {Gzip(tar.substr(0, 1000)) + Gzip(tar.substr(1000)), Compression::kGzip}}) {
    fs::remove_all(target_);
    fs::create_directories(target_);
    ASSERT_OK_AND_ASSIGN(UnpackStats stats, Unpack(blob, compression));
    EXPECT_EQ(stats.diff_id, want) << static_cast<int>(compression);
    EXPECT_EQ(stats.entries, 2u);
    EXPECT_EQ(stats.bytes, 300000u);
    EXPECT_EQ(Read(In("a")), std::string(300000, 'a'));
  }
  // Extra zeros after the archive are part of the diff id too.
  fs::remove_all(target_);
  fs::create_directories(target_);
  const std::string padded = tar + std::string(4096, '\0');
  ASSERT_OK_AND_ASSIGN(UnpackStats stats, Unpack(Gzip(padded), Compression::kGzip));
  EXPECT_EQ(stats.diff_id, Digest::Of(padded));
}

TEST_F(LayerUnpackTest, EmptyBlobIsAnEmptyLayer) {
  ASSERT_OK_AND_ASSIGN(UnpackStats stats, Unpack(""));
  EXPECT_EQ(stats.entries, 0u);
  EXPECT_EQ(stats.diff_id, Digest::Of(""));
  ASSERT_OK_AND_ASSIGN(stats, Unpack(std::string(1024, '\0')));
  EXPECT_EQ(stats.entries, 0u);
  EXPECT_TRUE(fs::is_empty(target_));
}

TEST_F(LayerUnpackTest, TruncatedOrCorruptLayersAreDataLoss) {
  const std::string tar = MakeTar({TarFile("a", std::string(300000, 'a'))});
  const std::string gz = Gzip(tar);
  absl::StatusOr<UnpackStats> stats = Unpack(gz.substr(0, gz.size() / 2), Compression::kGzip);
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kDataLoss) << stats.status();
  EXPECT_NE(stats.status().message().find("truncated"), absl::string_view::npos) << stats.status();
  // Cut after the file data but before the end: the drain sees it.
  stats = Unpack(gz.substr(0, gz.size() - 4), Compression::kGzip);
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kDataLoss) << stats.status();

  std::string corrupt = gz;
  corrupt[corrupt.size() / 3] ^= 0xff;
  stats = Unpack(corrupt, Compression::kGzip);
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kDataLoss) << stats.status();

  stats = Unpack(std::string(2000, 'x'));
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kDataLoss) << stats.status();
  // A tar cut in the middle of a file's data.
  stats = Unpack(tar.substr(0, 100000));
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kDataLoss) << stats.status();
}

TEST_F(LayerUnpackTest, BadEntriesAreInvalidArgument) {
  const std::string end(1024, '\0');
  absl::StatusOr<UnpackStats> stats = Unpack(RawTarEntry("", '0', "x") + end);
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kInvalidArgument) << stats.status();
  stats = Unpack(RawTarEntry("..", '0', "x") + end);
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kInvalidArgument) << stats.status();
  stats = Unpack(MakeTar({TarFile("dir/.wh.", "")}));
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kInvalidArgument) << stats.status();
  TarEntry owner = TarFile("f", "");
  owner.uid = int64_t{1} << 32;
  stats = Unpack(MakeTar({owner}));
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kInvalidArgument) << stats.status();
}

}  // namespace
}  // namespace converge
