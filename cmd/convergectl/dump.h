// `convergectl dump`: desired vs actual for every sandbox, side by side.
// Pure formatting of store records, so it is the same whether the records
// come from a running daemon's database or a dead one's.
#ifndef CONVERGE_CMD_CONVERGECTL_DUMP_H_
#define CONVERGE_CMD_CONVERGECTL_DUMP_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "api/container_view.h"
#include "store/store.h"

namespace converge {

// What the running daemon observes right now for one sandbox
// (converged's /debug/observe).
struct LiveView {
  bool same_boot = true;
  std::vector<std::string> mounted_pins;
  bool cgroup_exists = false;
  bool files_present = false;
  std::vector<std::string> disagreements;
  std::string error;
};

// Parses /debug/observe's JSON into views by sandbox id.
absl::StatusOr<std::map<std::string, LiveView>> ParseLiveObservations(absl::string_view json);

struct DumpOptions {
  bool json = false;
  // Only sandboxes whose actual state has not caught up with desired.
  bool diff_only = false;
  // Only sandboxes whose id starts with `id`, and whose pod has this name
  // and namespace (empty: any).
  std::string id;
  std::string name;
  std::string pod_namespace;
  // With live observations, each sandbox also shows what the daemon sees now
  // and where that disagrees with the stored record (--diff then also shows
  // converged sandboxes that disagree).
  std::optional<std::map<std::string, LiveView>> live;
  absl::Time now = absl::Now();
};

// A container has converged when its current desired generation is observed
// without error. One with nothing desired (an orphan, torn down by the
// reconciler) has not; one removed with nothing actual left is not shown.
bool IsConverged(const ContainerRecord& container);
bool Shown(const ContainerRecord& container);
// The sandbox record and every container it shows have converged.
bool IsFullyConverged(const SandboxRecord& record);

// Whether `record` passes the filters in `options`. With `diff_only`, a
// sandbox is shown when it or one of its containers has not converged.
bool Selected(const SandboxRecord& record, const DumpOptions& options);

std::string FormatDump(const std::vector<SandboxRecord>& records, const DumpOptions& options);

// The image references as text: desired (present or removed, generation)
// against actual (image, observed generation, last error); with
// `options.diff_only`, only those not converged.
std::string FormatImageDump(const std::vector<ImageRefRecord>& refs,
                            const std::vector<records::ImageRecord>& images,
                            const DumpOptions& options);

}  // namespace converge

#endif  // CONVERGE_CMD_CONVERGECTL_DUMP_H_
