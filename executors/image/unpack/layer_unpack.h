// Unpacks one OCI/Docker image layer blob into its own directory, which then
// serves as one overlayfs lower directory of the image: OCI whiteouts become
// overlayfs whiteouts (`dir/.wh.name` -> 0/0 character device `dir/name`,
// `dir/.wh..wh..opq` -> xattr trusted.overlay.opaque=y on `dir`).
//
//   CONVERGE_ASSIGN_OR_RETURN(Compression compression,
//                             CompressionForMediaType(layer.media_type));
//   CONVERGE_ASSIGN_OR_RETURN(UnpackStats stats,
//                             UnpackLayer(blob_fd, compression, "/var/lib/x/layers/<id>"));
//   if (stats.diff_id != config.rootfs.diff_ids[i]) return absl::DataLossError(...);
//
// Containment: every entry name is cleaned lexically first, so `..` is
// clamped at the layer root (`../../etc/x` and `/etc/x` both land on
// `<target>/etc/x`, as containerd does), and its parent directory is then
// resolved with openat2(RESOLVE_IN_ROOT), so a symlink planted earlier in the
// layer (`evil -> /etc` or `-> ../../..`) is followed as if the layer root
// were `/` and also stays inside. Final components are never followed.
// Entries of a hostile layer therefore land inside the target instead of
// failing the pull. Refused (INVALID_ARGUMENT): a hard link whose target is
// not a non-directory already unpacked from this layer, and an entry below a
// symlink to a directory the layer lacks (following it would mean creating
// the symlink's target; `evil -> /etc` then `evil/passwd` needs an `etc/`).
//
// Needs root (CAP_CHOWN, CAP_MKNOD, CAP_SYS_ADMIN for trusted.* xattrs) and
// /proc, which names an entry's parent for lsetxattr.
#ifndef CONVERGE_EXECUTORS_IMAGE_UNPACK_LAYER_UNPACK_H_
#define CONVERGE_EXECUTORS_IMAGE_UNPACK_LAYER_UNPACK_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "executors/image/digest.h"
#include "executors/image/unpack/compression.h"

namespace converge {

struct UnpackStats {
  // sha256 of the whole uncompressed tar stream, end-of-archive blocks and
  // any padding after them included.
  Digest diff_id;
  // Tar entries read, whiteouts included.
  uint64_t entries = 0;
  // Regular file bytes written.
  uint64_t bytes = 0;
};

// Reads the layer blob from `blob_fd` (from its current offset to EOF; the fd
// stays open), decompresses it and applies it to `target_dir`, an existing
// empty directory. Entry types: regular files, directories, symlinks, hard
// links, character and block devices, FIFOs; a later entry for a path
// replaces the earlier one (a directory over a directory only updates its
// metadata). Owner, mode (07777), xattrs and times are kept, except xattrs
// under trusted.overlay. and user.overlay., which would let a layer forge
// overlayfs metadata and are dropped.
//
// Errors: DATA_LOSS for a truncated or corrupt blob or tar stream;
// INVALID_ARGUMENT for an entry no layer may contain (empty name, socket,
// hard link or parent refused as above, uid/gid out of range); a failed
// syscall maps its errno and names the path. On error `target_dir` holds a
// partial layer for the caller to delete. Not thread-safe for one target;
// distinct targets are independent.
absl::StatusOr<UnpackStats> UnpackLayer(int blob_fd, Compression compression,
                                        const std::string& target_dir);

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_IMAGE_UNPACK_LAYER_UNPACK_H_
