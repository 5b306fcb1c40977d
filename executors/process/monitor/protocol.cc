#include "executors/process/monitor/protocol.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace converge::process::monitor_protocol {
namespace {

// Field tags. Requests and replies have separate tag spaces; never reuse a
// retired tag.
enum RequestTag : uint16_t {
  kReqContainerId = 1,
  kReqContainerDir = 2,
  kReqArg = 3,
  kReqTimeoutMs = 4,
};

enum ReplyTag : uint16_t {
  kRepCode = 1,
  kRepMessage = 2,
  kRepPid = 3,
  kRepStartTime = 4,
  kRepExitCode = 5,
  kRepStdout = 6,
  kRepStderr = 7,
  kRepStdoutTruncated = 8,
  kRepStderrTruncated = 9,
  kRepHolder = 10,
  kRepShuttingDown = 11,
  kRepContainer = 12,
};

enum ContainerTag : uint16_t {
  kCtrId = 1,
  kCtrPid = 2,
  kCtrStartTime = 3,
  kCtrState = 4,
  kCtrExecs = 5,
};

void PutLe(std::string* out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t GetLe(absl::string_view in, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) {
    value |= static_cast<uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  }
  return value;
}

class FieldWriter {
 public:
  explicit FieldWriter(std::string* out) : out_(out) {}
  void Bytes(uint16_t tag, absl::string_view value) {
    PutLe(out_, tag, 2);
    PutLe(out_, value.size(), 4);
    out_->append(value.data(), value.size());
  }
  void Int(uint16_t tag, int64_t value) {
    PutLe(out_, tag, 2);
    PutLe(out_, 8, 4);
    PutLe(out_, static_cast<uint64_t>(value), 8);
  }
  // Defaults are left out to keep frames small.
  void NonEmpty(uint16_t tag, absl::string_view value) {
    if (!value.empty()) Bytes(tag, value);
  }
  void NonZero(uint16_t tag, int64_t value) {
    if (value != 0) Int(tag, value);
  }

 private:
  std::string* out_;
};

struct Field {
  uint16_t tag;
  absl::string_view value;
};

// Iterates over a field list; an error once the input is malformed.
class FieldReader {
 public:
  explicit FieldReader(absl::string_view in) : in_(in) {}

  // False at the end or on error (then status() says why).
  bool Next(Field* field) {
    if (in_.empty() || !status_.ok()) return false;
    if (in_.size() < 6) {
      status_ = absl::InvalidArgumentError("truncated field header");
      return false;
    }
    field->tag = static_cast<uint16_t>(GetLe(in_, 2));
    const uint64_t length = GetLe(in_.substr(2), 4);
    in_.remove_prefix(6);
    if (length > in_.size()) {
      status_ = absl::InvalidArgumentError(absl::StrCat("field ", field->tag, " of ", length,
                                                        " bytes runs past the end (",
                                                        in_.size(), " left)"));
      return false;
    }
    field->value = in_.substr(0, length);
    in_.remove_prefix(length);
    return true;
  }

  const absl::Status& status() const { return status_; }

 private:
  absl::string_view in_;
  absl::Status status_;
};

absl::StatusOr<int64_t> IntValue(const Field& field) {
  if (field.value.size() != 8) {
    return absl::InvalidArgumentError(
        absl::StrCat("integer field ", field.tag, " has ", field.value.size(), " bytes, not 8"));
  }
  return static_cast<int64_t>(GetLe(field.value, 8));
}

std::string Frame(uint8_t kind, std::string fields) {
  std::string frame;
  frame.reserve(kFrameHeaderSize + 2 + fields.size());
  PutLe(&frame, 2 + fields.size(), 4);
  frame.push_back(static_cast<char>(kProtocolVersion));
  frame.push_back(static_cast<char>(kind));
  frame.append(fields);
  return frame;
}

// Checks the version and returns the kind and the field list.
absl::StatusOr<std::pair<uint8_t, absl::string_view>> SplitPayload(absl::string_view payload) {
  if (payload.size() < 2) return absl::InvalidArgumentError("truncated message header");
  const uint8_t version = static_cast<uint8_t>(payload[0]);
  if (version != kProtocolVersion) {
    return absl::UnimplementedError(absl::StrCat("monitor protocol version ", version,
                                                 " (this side speaks ", kProtocolVersion, ")"));
  }
  return std::make_pair(static_cast<uint8_t>(payload[1]), payload.substr(2));
}

#define CONVERGE_INT_FIELD_(target, field)                         \
  do {                                                             \
    absl::StatusOr<int64_t> value_ = IntValue(field);              \
    if (!value_.ok()) return value_.status();                      \
    target = static_cast<decltype(target)>(*value_);               \
  } while (0)

absl::StatusOr<ContainerState> DecodeContainer(absl::string_view fields) {
  ContainerState container;
  FieldReader reader(fields);
  Field field;
  while (reader.Next(&field)) {
    switch (field.tag) {
      case kCtrId:
        container.id = std::string(field.value);
        break;
      case kCtrPid:
        CONVERGE_INT_FIELD_(container.pid, field);
        break;
      case kCtrStartTime:
        CONVERGE_INT_FIELD_(container.start_time, field);
        break;
      case kCtrState:
        container.state = std::string(field.value);
        break;
      case kCtrExecs:
        CONVERGE_INT_FIELD_(container.execs, field);
        break;
      default:
        break;
    }
  }
  if (!reader.status().ok()) return reader.status();
  return container;
}

}  // namespace

std::string EncodeRequest(const Request& request) {
  std::string fields;
  FieldWriter w(&fields);
  w.NonEmpty(kReqContainerId, request.container_id);
  w.NonEmpty(kReqContainerDir, request.container_dir);
  for (const std::string& arg : request.args) w.Bytes(kReqArg, arg);
  w.NonZero(kReqTimeoutMs, request.timeout_ms);
  return Frame(static_cast<uint8_t>(request.op), std::move(fields));
}

std::string EncodeReply(const Reply& reply) {
  std::string fields;
  fields.reserve(64 + reply.message.size() + reply.stdout_data.size() +
                 reply.stderr_data.size());
  FieldWriter w(&fields);
  w.NonZero(kRepCode, static_cast<int64_t>(reply.code));
  w.NonEmpty(kRepMessage, reply.message);
  if (reply.pid != -1) w.Int(kRepPid, reply.pid);
  w.NonZero(kRepStartTime, static_cast<int64_t>(reply.start_time));
  w.NonZero(kRepExitCode, reply.exit_code);
  w.NonEmpty(kRepStdout, reply.stdout_data);
  w.NonEmpty(kRepStderr, reply.stderr_data);
  w.NonZero(kRepStdoutTruncated, reply.stdout_truncated);
  w.NonZero(kRepStderrTruncated, reply.stderr_truncated);
  if (reply.pid_namespace_holder != -1) w.Int(kRepHolder, reply.pid_namespace_holder);
  w.NonZero(kRepShuttingDown, reply.shutting_down);
  for (const ContainerState& c : reply.containers) {
    std::string nested;
    FieldWriter n(&nested);
    n.Bytes(kCtrId, c.id);
    n.Int(kCtrPid, c.pid);
    n.Int(kCtrStartTime, static_cast<int64_t>(c.start_time));
    n.Bytes(kCtrState, c.state);
    n.Int(kCtrExecs, c.execs);
    w.Bytes(kRepContainer, nested);
  }
  return Frame(kReplyKind, std::move(fields));
}

absl::StatusOr<Request> DecodeRequest(absl::string_view payload) {
  absl::StatusOr<std::pair<uint8_t, absl::string_view>> split = SplitPayload(payload);
  if (!split.ok()) return split.status();
  Request request;
  const uint8_t kind = split->first;
  if (kind < static_cast<uint8_t>(Op::kStatus) || kind > static_cast<uint8_t>(Op::kShutdown)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown request kind ", kind));
  }
  request.op = static_cast<Op>(kind);
  FieldReader reader(split->second);
  Field field;
  while (reader.Next(&field)) {
    switch (field.tag) {
      case kReqContainerId:
        request.container_id = std::string(field.value);
        break;
      case kReqContainerDir:
        request.container_dir = std::string(field.value);
        break;
      case kReqArg:
        request.args.emplace_back(field.value);
        break;
      case kReqTimeoutMs:
        CONVERGE_INT_FIELD_(request.timeout_ms, field);
        break;
      default:
        break;
    }
  }
  if (!reader.status().ok()) return reader.status();
  return request;
}

absl::StatusOr<Reply> DecodeReply(absl::string_view payload) {
  absl::StatusOr<std::pair<uint8_t, absl::string_view>> split = SplitPayload(payload);
  if (!split.ok()) return split.status();
  if (split->first != kReplyKind) {
    return absl::InvalidArgumentError(absl::StrCat("message kind ", split->first,
                                                   " where a reply was expected"));
  }
  Reply reply;
  int64_t code = 0;
  FieldReader reader(split->second);
  Field field;
  while (reader.Next(&field)) {
    switch (field.tag) {
      case kRepCode:
        CONVERGE_INT_FIELD_(code, field);
        break;
      case kRepMessage:
        reply.message = std::string(field.value);
        break;
      case kRepPid:
        CONVERGE_INT_FIELD_(reply.pid, field);
        break;
      case kRepStartTime:
        CONVERGE_INT_FIELD_(reply.start_time, field);
        break;
      case kRepExitCode:
        CONVERGE_INT_FIELD_(reply.exit_code, field);
        break;
      case kRepStdout:
        reply.stdout_data = std::string(field.value);
        break;
      case kRepStderr:
        reply.stderr_data = std::string(field.value);
        break;
      case kRepStdoutTruncated:
        CONVERGE_INT_FIELD_(reply.stdout_truncated, field);
        break;
      case kRepStderrTruncated:
        CONVERGE_INT_FIELD_(reply.stderr_truncated, field);
        break;
      case kRepHolder:
        CONVERGE_INT_FIELD_(reply.pid_namespace_holder, field);
        break;
      case kRepShuttingDown:
        CONVERGE_INT_FIELD_(reply.shutting_down, field);
        break;
      case kRepContainer: {
        absl::StatusOr<ContainerState> container = DecodeContainer(field.value);
        if (!container.ok()) return container.status();
        reply.containers.push_back(*std::move(container));
        break;
      }
      default:
        break;
    }
  }
  if (!reader.status().ok()) return reader.status();
  if (code < 0 || code > static_cast<int64_t>(absl::StatusCode::kUnauthenticated)) {
    return absl::InvalidArgumentError(absl::StrCat("reply status code ", code, " out of range"));
  }
  reply.code = static_cast<absl::StatusCode>(code);
  return reply;
}

absl::StatusOr<size_t> CompleteFrameSize(absl::string_view buffered, size_t max_payload) {
  if (buffered.size() < kFrameHeaderSize) return size_t{0};
  const uint64_t length = GetLe(buffered, 4);
  if (length > max_payload) {
    return absl::ResourceExhaustedError(
        absl::StrCat("monitor message of ", length, " bytes exceeds the limit of ", max_payload));
  }
  if (buffered.size() < kFrameHeaderSize + length) return size_t{0};
  return static_cast<size_t>(kFrameHeaderSize + length);
}

absl::Status ReplyStatus(const Reply& reply) {
  if (reply.code == absl::StatusCode::kOk) return absl::OkStatus();
  return absl::Status(reply.code, reply.message);
}

Reply ErrorReply(const absl::Status& status) {
  Reply reply;
  reply.code = status.code();
  reply.message = std::string(status.message());
  return reply;
}

}  // namespace converge::process::monitor_protocol
