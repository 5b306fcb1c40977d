// `convergectl dump`: desired vs actual for every sandbox, side by side.
// Pure formatting of store records, so it is the same whether the records
// come from a running daemon's database or a dead one's.
#ifndef CONVERGE_CMD_CONVERGECTL_DUMP_H_
#define CONVERGE_CMD_CONVERGECTL_DUMP_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "store/store.h"

namespace converge {

struct DumpOptions {
  bool json = false;
  // Only sandboxes whose actual state has not caught up with desired.
  bool diff_only = false;
  // Only sandboxes whose id starts with `id`, and whose pod has this name
  // and namespace (empty: any).
  std::string id;
  std::string name;
  std::string pod_namespace;
  absl::Time now = absl::Now();
};

// Whether `record` passes the filters in `options`.
bool Selected(const SandboxRecord& record, const DumpOptions& options);

std::string FormatDump(const std::vector<SandboxRecord>& records, const DumpOptions& options);

}  // namespace converge

#endif  // CONVERGE_CMD_CONVERGECTL_DUMP_H_
