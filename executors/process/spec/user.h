// The identity a container's process runs as, resolved from the CRI security
// context, the image config's User and the rootfs's /etc/passwd and /etc/group,
// the way containerd's CRI plugin resolves it (util.GenerateUserString,
// oci.WithUser / WithUserID / WithUsername, WithAdditionalGIDs,
// WithSupplementalGroups) and runc picks HOME. Pure: the caller reads the two
// files inside the rootfs and passes their contents ("" when missing).
//
//   CONVERGE_ASSIGN_OR_RETURN(
//       ProcessUser user,
//       ResolveUser(config.linux().security_context(), image.user(), passwd, group));
//   // setgroups(user.additional_gids), setgid(user.gid), setuid(user.uid)
//
// Which user string applies:
//   - run_as_username (a name, or digits meaning a uid, as in containerd), else
//     run_as_user; with run_as_group as the group. run_as_group without either
//     is INVALID_ARGUMENT, even when the image names a user (containerd rejects
//     it the same way). The image's User, group part included, is then ignored.
//   - else the image's User: "name", "uid", "name:group", "uid:gid",
//     "uid:group", "name:gid"; "" means uid 0, gid 0.
// How it resolves:
//   - a name must be in /etc/passwd (NOT_FOUND otherwise), a group name in
//     /etc/group (NOT_FOUND); numeric ids are taken as they are.
//   - a lone uid takes its gid from /etc/passwd, or gid 0 when absent there.
//   - with a ":" the gid is the group part only: an empty part means 0, so
//     "app:" is app's uid with gid 0 and ":" is 0:0, exactly as containerd
//     splits them (Docker would give "app:" app's passwd gid instead).
//   - ids are 0..4294967294 ((uid_t)-1 means "unchanged" to setresuid(2));
//     others are INVALID_ARGUMENT. containerd caps at 2^31-1 for runc's sake.
// additional_gids, sorted and unique, is what setgroups(2) gets:
//   - the primary gid itself, so that dropping it cannot bypass a group-deny
//     permission (containerd's fix for CVE-2023-25173);
//   - under SupplementalGroupsPolicy Merge (the default), every /etc/group
//     entry listing the user by name as a member, except a group named like the
//     user; the user is the run_as_username / run_as_user / image user part
//     ("0" when none), a uid being mapped to its first /etc/passwd name;
//   - supplemental_groups from the security context.
// home is the home field of the first /etc/passwd entry with the final uid,
// else "/" (runc's HOME default); ProcessEnv adds it unless HOME is set.
//
// /etc/passwd and /etc/group are parsed leniently but safely: blank lines,
// "#" comments, lines with too few fields, an empty name or a non-decimal or
// out-of-range id are skipped rather than read as 0 (root). The first matching
// entry wins, as with getpwnam(3).
#ifndef CONVERGE_EXECUTORS_PROCESS_SPEC_USER_H_
#define CONVERGE_EXECUTORS_PROCESS_SPEC_USER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "api/cri/api.pb.h"

namespace converge::process {

struct ProcessUser {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> additional_gids;  // sorted, unique, includes gid
  std::string home;                       // for HOME; never empty
};

// Errors: INVALID_ARGUMENT naming the field (e.g.
// "linux.security_context.run_as_group", "image config User"); NOT_FOUND
// naming a user or group missing from /etc/passwd or /etc/group.
absl::StatusOr<ProcessUser> ResolveUser(const runtime::v1::LinuxContainerSecurityContext& security,
                                        const std::string& image_user, absl::string_view passwd,
                                        absl::string_view group);

}  // namespace converge::process

#endif  // CONVERGE_EXECUTORS_PROCESS_SPEC_USER_H_
