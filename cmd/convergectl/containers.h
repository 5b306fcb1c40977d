// convergectl's container commands: CRI RuntimeService calls for operators
// without crictl, printed the way crictl prints them. The formatting is pure
// (FormatContainers, FormatStats, FormatContainerInspect) so that tests pin
// the output; the *Command functions make the calls and print.
//
//   const ContainerCommandContext context{channel, absl::Minutes(4)};
//   PsOptions options;
//   options.all = true;
//   CONVERGE_RETURN_IF_ERROR(ListContainersCommand(context, options));
//   // CONTAINER       IMAGE                            CREATED          STATE     NAME ...
//   // 3f2a9c1d7e5b4   docker.io/library/busybox:1.36   2 minutes ago    Running   web  ...
#ifndef CONVERGE_CMD_CONVERGECTL_CONTAINERS_H_
#define CONVERGE_CMD_CONVERGECTL_CONTAINERS_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "api/cri/api.grpc.pb.h"
#include "grpcpp/channel.h"

namespace converge {

struct ContainerCommandContext {
  std::shared_ptr<grpc::Channel> channel;
  // Deadline of each CRI call; also ExecSync's timeout.
  absl::Duration timeout;
};

// docker/go-units' HumanDuration, which crictl prints with " ago":
// "Less than a second", "1 second", "45 seconds", "About a minute",
// "12 minutes", "About an hour", "5 hours", "3 days", "2 weeks", "4 months",
// "2 years". A negative duration (clock skew) reads as less than a second.
std::string HumanDuration(absl::Duration duration);
// HumanDuration(now - t) + " ago".
std::string Ago(int64_t unix_nanos, absl::Time now);

// docker/go-units' HumanSize (decimal units, 4 significant digits), as
// crictl stats prints memory and disk: "0B", "999B", "1.5kB", "12.35MB".
std::string HumanSize(uint64_t bytes);

// An id as crictl shows it: the first 13 characters; for an image digest
// ("sha256:<hex>") the first 13 of the hex.
std::string TruncateId(const std::string& id);

// Rows aligned like Go's tabwriter with crictl's settings: each column but
// the last padded to its widest cell plus `padding`, and to at least
// `min_width`.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows, size_t min_width = 10,
                        size_t padding = 3);

// "Running", "Exited", "Created", "Unknown".
std::string ContainerStateName(runtime::v1::ContainerState state);

// `crictl ps`: newest first; CONTAINER, IMAGE, CREATED, STATE, NAME,
// ATTEMPT, POD ID, POD. The pod name is kubelet's io.kubernetes.pod.name
// label, else the name in `pod_names` (sandbox id -> pod name, from
// ListPodSandbox, for pods not made by kubelet), else "unknown". `quiet`:
// full ids only, one per line.
std::string FormatContainers(std::vector<runtime::v1::Container> containers,
                             const std::map<std::string, std::string>& pod_names, bool quiet,
                             absl::Time now);

// `crictl inspect`: {"info": {...}, "status": {...}} where status is the CRI
// ContainerStatus in protobuf JSON (camelCase, defaults included) with
// createdAt/startedAt/finishedAt as RFC 3339 times, and each verbose info
// entry is parsed as JSON (kept as a string if it is not JSON).
std::string FormatContainerInspect(const runtime::v1::ContainerStatusResponse& response);

// `crictl stats`, by container id: CONTAINER, NAME, CPU (cumulative CPU
// seconds: a CPU % needs two samples), MEM (working set), DISK (writable
// layer), INODES. "-" where the runtime did not report a value.
std::string FormatStats(std::vector<runtime::v1::ContainerStats> stats);

struct PsOptions {
  bool all = false;      // Every state, not only running containers.
  std::string pod;       // Only this pod sandbox (id or prefix).
  bool quiet = false;
};

absl::Status ListContainersCommand(const ContainerCommandContext& context,
                                   const PsOptions& options);
absl::Status InspectContainerCommand(const ContainerCommandContext& context,
                                     const std::string& id);
// Prints the command's stdout and stderr to ours and returns its exit code.
absl::StatusOr<int> ExecSyncCommand(const ContainerCommandContext& context, const std::string& id,
                                    const std::vector<std::string>& command);
// Prints each id stopped/removed; returns the first failure after trying all.
absl::Status StopContainersCommand(const ContainerCommandContext& context,
                                   const std::vector<std::string>& ids, int64_t timeout_seconds);
absl::Status RemoveContainersCommand(const ContainerCommandContext& context,
                                     const std::vector<std::string>& ids);
// `id` empty: every container (running ones unless `all`).
absl::Status StatsCommand(const ContainerCommandContext& context, const std::string& id,
                          bool all);
// CreateContainer from a ContainerConfig and the pod's PodSandboxConfig as
// JSON files (crictl create's arguments); prints the new container's id.
absl::Status CreateContainerCommand(const ContainerCommandContext& context,
                                    const std::string& pod_id, const std::string& container_config,
                                    const std::string& pod_config);
absl::Status StartContainerCommand(const ContainerCommandContext& context, const std::string& id);
// `crictl logs`: see container_logs.h.
absl::Status LogsCommand(const ContainerCommandContext& context, const std::string& id,
                         bool follow, int64_t tail);

}  // namespace converge

#endif  // CONVERGE_CMD_CONVERGECTL_CONTAINERS_H_
