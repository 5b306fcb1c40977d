// A private image registry for pull tests: Debian's docker-registry
// (distribution 2.8) on 127.0.0.1:<free port>, with its storage, config, log
// and optional htpasswd file in a temporary directory, plus the test images of
// testdata/images (see its README.md) pushed into it.
//
//   absl::StatusOr<std::unique_ptr<LocalRegistry>> registry = LocalRegistry::Start();
//   ASSERT_TRUE(registry.ok()) << registry.status();
//   ASSERT_OK((*registry)->PushTestImages());
//   std::string image = (*registry)->host_port() + "/library/busybox:latest";
//   ...
//   // ~LocalRegistry stops the registry and removes its directory.
//
// Tests using this need the `local` tag (the registry, skopeo and the image
// tools come from the system) and root (build-images.sh chowns /home/app).
// The registry runs under `setpriv --pdeathsig=KILL`: it is killed when the
// thread that started it exits, so a crashed test leaves no registry behind
// (and a registry must be started from a thread that outlives its use, e.g.
// the test's main thread).
#ifndef CONVERGE_TESTS_REGISTRY_LOCAL_REGISTRY_H_
#define CONVERGE_TESTS_REGISTRY_LOCAL_REGISTRY_H_

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "httplib.h"

namespace converge::testing {

// The four manifest media types a puller accepts, as one Accept header value.
inline constexpr char kManifestAccept[] =
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json";

struct LocalRegistryOptions {
  // When `user` is set, every request needs HTTP basic auth with these
  // credentials (an htpasswd file with a bcrypt hash).
  std::string user;
  std::string password;
  // Serve HTTPS with a certificate for 127.0.0.1 signed by a CA made for
  // this registry (ca_cert_path()), as a private registry does.
  bool tls = false;
};

class LocalRegistry {
 public:
  // Starts the registry and waits until `GET /v2/` answers (200, or 401 with
  // auth). Errors carry the tail of the registry's log.
  static absl::StatusOr<std::unique_ptr<LocalRegistry>> Start(
      LocalRegistryOptions options = LocalRegistryOptions());

  // Stop(); a failure there is reported on stderr.
  ~LocalRegistry();
  LocalRegistry(const LocalRegistry&) = delete;
  LocalRegistry& operator=(const LocalRegistry&) = delete;

  // SIGTERM, then SIGKILL after 5s; reaps the process and removes dir().
  // Idempotent.
  absl::Status Stop();

  // "127.0.0.1:PORT".
  const std::string& host_port() const { return host_port_; }
  int port() const { return port_; }
  const LocalRegistryOptions& options() const { return options_; }
  // The temporary directory holding everything of this registry.
  const std::string& dir() const { return dir_; }
  // The filesystem driver's root: blobs live under
  // docker/registry/v2/blobs/sha256/<first 2 hex>/<hex>/data.
  std::string storage_dir() const { return dir_ + "/storage"; }
  // The CA that signed the registry's certificate (tls only).
  std::string ca_cert_path() const { return dir_ + "/ca.crt"; }
  // The registry's pid; -1 once stopped.
  pid_t pid() const { return pid_; }
  // The last `bytes` of the registry's log.
  std::string LogTail(size_t bytes = 4096) const;

  // Pushes every image of TestImagesDir() with push-images.sh (with this
  // registry's credentials): library/busybox (tags latest, 1.35, stable),
  // library/busybox-user, library/busybox-uid, library/busybox-docker
  // (Docker schema 2), test/whiteout, test/multiarch (OCI index) and
  // test/busybox-zstd (if zstd is installed), each tagged latest.
  absl::Status PushTestImages();

  // Overwrites bytes in the middle of a stored blob, keeping its size, so the
  // registry serves content that does not match `digest` ("sha256:<hex>").
  // NOT_FOUND if this registry does not hold the blob.
  absl::Status CorruptBlob(absl::string_view digest) const;

  // The Docker-Content-Digest of `repo`'s manifest `reference` (tag or
  // digest), from a HEAD request accepting kManifestAccept. NOT_FOUND for an
  // unknown repository or reference.
  absl::StatusOr<std::string> ManifestDigest(absl::string_view repo,
                                             absl::string_view reference) const;

 private:
  LocalRegistry(LocalRegistryOptions options, std::string dir)
      : options_(std::move(options)), dir_(std::move(dir)) {}
  // One attempt on one free port; `*port_taken` tells the caller to retry.
  absl::Status Launch(bool* port_taken);
  absl::Status WaitReady();
  absl::Status MakeCertificates() const;
  httplib::Client Client() const;
  // SIGTERM, SIGKILL after 5s, reap.
  void KillProcess();

  const LocalRegistryOptions options_;
  const std::string dir_;
  int port_ = 0;
  std::string host_port_;
  pid_t pid_ = -1;
  bool dir_removed_ = false;
};

// The test images, built by build-images.sh into a temporary directory on the
// first call in this process (a few seconds) and removed at exit. Holds one
// OCI layout per image: busybox, busybox-user, busybox-uid, whiteout,
// multiarch and, if zstd is installed, busybox-zstd. Thread-safe.
absl::StatusOr<std::string> TestImagesDir();

// The digest that layout `layout` of TestImagesDir() tags `tag` with, from its
// index.json. Equals the registry's manifest digest after PushTestImages().
absl::StatusOr<std::string> TestImageDigest(absl::string_view layout,
                                            absl::string_view tag = "latest");

// Runs `argv` (argv[0] an absolute path) with stdin from /dev/null and no
// inherited descriptors besides stdout and stderr, which both go to the
// returned text; a failure carries the command, its status and that text.
// Descriptors are closed so that a registry or script never holds a test's
// sockets open.
absl::StatusOr<std::string> RunCommand(const std::vector<std::string>& argv);

// `bytes` random bytes as lowercase hex (secrets and tokens for the tests).
std::string RandomHex(int bytes);

}  // namespace converge::testing

#endif  // CONVERGE_TESTS_REGISTRY_LOCAL_REGISTRY_H_
