// The wire protocol between the daemon (monitor_client.h) and converge-monitor
// over the pod's unix stream socket `<pod_dir>/monitor.sock`. One connection
// carries exactly one request and its reply; then both sides close.
//
//   frame   = u32 payload length (little endian) + payload
//   payload = u8 version (kProtocolVersion) + u8 kind + field*
//   field   = u16 tag + u32 length + bytes          (little endian)
//
// A request's kind is its Op; a reply's kind is kReplyKind. Integers are
// 8-byte little-endian fields, strings are raw bytes, repeated fields repeat
// their tag, and a nested message (a container in a status reply) is a field
// whose bytes are a field list. Decoders skip unknown tags, so either side may
// add fields without bumping the version; a changed meaning bumps it, and a
// monitor answers a version it does not speak with UNIMPLEMENTED.
//
//   std::string frame = EncodeRequest(request);           // client
//   CONVERGE_ASSIGN_OR_RETURN(size_t size, CompleteFrameSize(buffered, kMaxRequestPayload));
//   if (size != 0) CONVERGE_ASSIGN_OR_RETURN(Request r, DecodeRequest(buffered.substr(0, size)));
//
// Every reply carries an absl status code and message, mapped back to an
// absl::Status by the client (ReplyStatus).
#ifndef CONVERGE_EXECUTORS_PROCESS_MONITOR_PROTOCOL_H_
#define CONVERGE_EXECUTORS_PROCESS_MONITOR_PROTOCOL_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace converge::process::monitor_protocol {

inline constexpr uint8_t kProtocolVersion = 1;
inline constexpr size_t kFrameHeaderSize = 4;
// Requests are small (ids, paths, exec argv); anything bigger is refused.
inline constexpr size_t kMaxRequestPayload = 1 << 20;
// Exec output is capped at 16 MiB per stream; plus room for the rest.
inline constexpr size_t kMaxExecOutput = 16 << 20;
inline constexpr size_t kMaxReplyPayload = 2 * kMaxExecOutput + (1 << 20);

enum class Op : uint8_t {
  kStatus = 1,     // monitor pid, pod pid namespace holder, containers
  kCreate = 2,     // container_id, container_dir -> pid, start_time
  kExec = 3,       // container_id, args, timeout_ms -> exit_code, output
  kReopenLog = 4,  // container_id
  kShutdown = 5,   // no more creates; exit once nothing runs
};
inline constexpr uint8_t kReplyKind = 0x80;

struct Request {
  Op op = Op::kStatus;
  std::string container_id;
  std::string container_dir;
  std::vector<std::string> args;
  // kExec: 0 means no timeout (CRI's ExecSync timeout 0).
  int64_t timeout_ms = 0;
};

struct ContainerState {
  std::string id;
  pid_t pid = -1;
  uint64_t start_time = 0;
  // "creating", "created" (setup done; running once the daemon opened the
  // exec FIFO, which the monitor does not see).
  std::string state;
  int execs = 0;  // exec processes running in it
};

struct Reply {
  absl::StatusCode code = absl::StatusCode::kOk;
  std::string message;
  // kCreate: the init; kStatus and the start-up report: the monitor.
  pid_t pid = -1;
  uint64_t start_time = 0;
  // kExec.
  int exit_code = 0;
  std::string stdout_data;
  std::string stderr_data;
  bool stdout_truncated = false;
  bool stderr_truncated = false;
  // kStatus.
  pid_t pid_namespace_holder = -1;  // -1: no pod pid namespace
  bool shutting_down = false;
  std::vector<ContainerState> containers;
};

// Complete frames, header included.
std::string EncodeRequest(const Request& request);
std::string EncodeReply(const Reply& reply);

// Decode a payload (header stripped). INVALID_ARGUMENT for truncated or
// garbled input (a field running past the end, a bad integer size, an unknown
// op), UNIMPLEMENTED for another protocol version.
absl::StatusOr<Request> DecodeRequest(absl::string_view payload);
absl::StatusOr<Reply> DecodeReply(absl::string_view payload);

// The size of the complete frame (header + payload) at the start of
// `buffered`, or 0 when more bytes are needed. RESOURCE_EXHAUSTED when the
// announced payload is larger than `max_payload`.
absl::StatusOr<size_t> CompleteFrameSize(absl::string_view buffered, size_t max_payload);

// The payload of a complete frame as returned by CompleteFrameSize.
inline absl::string_view FramePayload(absl::string_view frame) {
  return frame.substr(kFrameHeaderSize);
}

// The reply's status (OK or code + message).
absl::Status ReplyStatus(const Reply& reply);
// A reply carrying `status` and nothing else.
Reply ErrorReply(const absl::Status& status);

}  // namespace converge::process::monitor_protocol

#endif  // CONVERGE_EXECUTORS_PROCESS_MONITOR_PROTOCOL_H_
