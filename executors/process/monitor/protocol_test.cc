#include "executors/process/monitor/protocol.h"

#include <string>

#include "common/testing/status_testing.h"
#include "gtest/gtest.h"

namespace converge::process::monitor_protocol {
namespace {

// Encodes, checks the frame header, decodes.
absl::StatusOr<Request> RoundTrip(const Request& request) {
  const std::string frame = EncodeRequest(request);
  absl::StatusOr<size_t> size = CompleteFrameSize(frame, kMaxRequestPayload);
  if (!size.ok()) return size.status();
  EXPECT_EQ(*size, frame.size());
  return DecodeRequest(FramePayload(frame));
}

absl::StatusOr<Reply> RoundTrip(const Reply& reply) {
  const std::string frame = EncodeReply(reply);
  absl::StatusOr<size_t> size = CompleteFrameSize(frame, kMaxReplyPayload);
  if (!size.ok()) return size.status();
  EXPECT_EQ(*size, frame.size());
  return DecodeReply(FramePayload(frame));
}

TEST(ProtocolTest, RequestRoundTrip) {
  Request request;
  request.op = Op::kExec;
  request.container_id = "c1";
  request.container_dir = "/run/converge/pods/p/c1";
  request.args = {"sh", "-c", "", std::string("a\0b", 3)};
  request.timeout_ms = 1500;
  ASSERT_OK_AND_ASSIGN(Request decoded, RoundTrip(request));
  EXPECT_EQ(decoded.op, Op::kExec);
  EXPECT_EQ(decoded.container_id, "c1");
  EXPECT_EQ(decoded.container_dir, request.container_dir);
  EXPECT_EQ(decoded.args, request.args);  // empty and NUL-holding args survive
  EXPECT_EQ(decoded.timeout_ms, 1500);
}

TEST(ProtocolTest, EveryOpRoundTrips) {
  for (Op op : {Op::kStatus, Op::kCreate, Op::kExec, Op::kReopenLog, Op::kShutdown}) {
    Request request;
    request.op = op;
    ASSERT_OK_AND_ASSIGN(Request decoded, RoundTrip(request));
    EXPECT_EQ(decoded.op, op);
    EXPECT_TRUE(decoded.args.empty());
    EXPECT_EQ(decoded.timeout_ms, 0);
  }
}

TEST(ProtocolTest, ReplyRoundTrip) {
  Reply reply;
  reply.code = absl::StatusCode::kPermissionDenied;
  reply.message = "mount `/proc`: Permission denied";
  reply.pid = 4242;
  reply.start_time = 123456789012ull;
  reply.exit_code = -1;
  reply.stdout_data = std::string(70000, 'o');
  reply.stderr_data = "err";
  reply.stdout_truncated = true;
  reply.pid_namespace_holder = 77;
  reply.shutting_down = true;
  reply.containers = {{"a", 10, 11, "created", 2}, {"b", 20, 0, "creating", 0}};
  ASSERT_OK_AND_ASSIGN(Reply decoded, RoundTrip(reply));
  EXPECT_EQ(decoded.code, absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(decoded.message, reply.message);
  EXPECT_EQ(decoded.pid, 4242);
  EXPECT_EQ(decoded.start_time, 123456789012ull);
  EXPECT_EQ(decoded.exit_code, -1);
  EXPECT_EQ(decoded.stdout_data, reply.stdout_data);
  EXPECT_EQ(decoded.stderr_data, "err");
  EXPECT_TRUE(decoded.stdout_truncated);
  EXPECT_FALSE(decoded.stderr_truncated);
  EXPECT_EQ(decoded.pid_namespace_holder, 77);
  EXPECT_TRUE(decoded.shutting_down);
  ASSERT_EQ(decoded.containers.size(), 2u);
  EXPECT_EQ(decoded.containers[0].id, "a");
  EXPECT_EQ(decoded.containers[0].pid, 10);
  EXPECT_EQ(decoded.containers[0].start_time, 11u);
  EXPECT_EQ(decoded.containers[0].state, "created");
  EXPECT_EQ(decoded.containers[0].execs, 2);
  EXPECT_EQ(decoded.containers[1].state, "creating");
  EXPECT_EQ(ReplyStatus(decoded).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ReplyStatus(decoded).message(), reply.message);
}

TEST(ProtocolTest, DefaultReplyIsOkWithNoPid) {
  ASSERT_OK_AND_ASSIGN(Reply decoded, RoundTrip(Reply()));
  EXPECT_OK(ReplyStatus(decoded));
  EXPECT_EQ(decoded.pid, -1);
  EXPECT_EQ(decoded.pid_namespace_holder, -1);
  EXPECT_TRUE(decoded.containers.empty());
}

TEST(ProtocolTest, ErrorReplyCarriesTheStatus) {
  Reply reply = ErrorReply(absl::NotFoundError("no such container"));
  ASSERT_OK_AND_ASSIGN(Reply decoded, RoundTrip(reply));
  absl::Status status = ReplyStatus(decoded);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "no such container");
}

TEST(ProtocolTest, PartialFramesNeedMoreBytes) {
  Request request;
  request.op = Op::kCreate;
  request.container_id = "abc";
  const std::string frame = EncodeRequest(request);
  for (size_t n = 0; n < frame.size(); ++n) {
    ASSERT_OK_AND_ASSIGN(size_t size, CompleteFrameSize(frame.substr(0, n), kMaxRequestPayload));
    EXPECT_EQ(size, 0u) << "prefix of " << n;
  }
  // Bytes after the frame belong to nobody; the frame ends where it says.
  ASSERT_OK_AND_ASSIGN(size_t size, CompleteFrameSize(frame + "junk", kMaxRequestPayload));
  EXPECT_EQ(size, frame.size());
}

TEST(ProtocolTest, OversizedFrameIsRefused) {
  std::string header("\xff\xff\xff\x7f", 4);
  EXPECT_EQ(CompleteFrameSize(header, kMaxRequestPayload).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(ProtocolTest, TruncatedPayloadIsInvalid) {
  Request request;
  request.op = Op::kExec;
  request.container_id = "container";
  request.args = {"echo", "hi"};
  request.timeout_ms = 5;
  const std::string payload(FramePayload(EncodeRequest(request)));
  // Every strict prefix that cuts into a field is an error, never a crash;
  // the ones ending between fields decode (to fewer fields).
  int errors = 0;
  for (size_t n = 0; n < payload.size(); ++n) {
    absl::StatusOr<Request> decoded = DecodeRequest(payload.substr(0, n));
    if (!decoded.ok()) {
      EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument) << n;
      ++errors;
    }
  }
  EXPECT_GT(errors, static_cast<int>(payload.size()) - 6);
}

TEST(ProtocolTest, GarbledInputIsInvalid) {
  // Wrong version.
  EXPECT_EQ(DecodeRequest(std::string("\x09\x01", 2)).status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(DecodeReply(std::string("\x02\x80", 2)).status().code(),
            absl::StatusCode::kUnimplemented);
  // Unknown op, reply kind where a request is expected and vice versa.
  EXPECT_EQ(DecodeRequest(std::string("\x01\x63", 2)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeRequest(std::string("\x01\x80", 2)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeReply(std::string("\x01\x02", 2)).status().code(),
            absl::StatusCode::kInvalidArgument);
  // An integer field of 3 bytes.
  std::string bad_int("\x01\x03" "\x04\x00" "\x03\x00\x00\x00" "abc", 2 + 6 + 3);
  EXPECT_EQ(DecodeRequest(bad_int).status().code(), absl::StatusCode::kInvalidArgument);
  // A field claiming more bytes than there are.
  std::string overrun("\x01\x02" "\x01\x00" "\xff\x00\x00\x00" "ab", 2 + 6 + 2);
  EXPECT_EQ(DecodeRequest(overrun).status().code(), absl::StatusCode::kInvalidArgument);
  // A status code out of range.
  std::string bad_code("\x01\x80" "\x01\x00" "\x08\x00\x00\x00" "\x63\x00\x00\x00\x00\x00\x00\x00",
                       2 + 6 + 8);
  EXPECT_EQ(DecodeReply(bad_code).status().code(), absl::StatusCode::kInvalidArgument);
  // Empty.
  EXPECT_EQ(DecodeReply("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ProtocolTest, UnknownFieldsAreSkipped) {
  Request request;
  request.op = Op::kReopenLog;
  request.container_id = "c";
  std::string frame = EncodeRequest(request);
  // Append a field with tag 999 and fix up the length.
  std::string extra("\xe7\x03" "\x02\x00\x00\x00" "zz", 8);
  std::string payload = std::string(FramePayload(frame)) + extra;
  ASSERT_OK_AND_ASSIGN(Request decoded, DecodeRequest(payload));
  EXPECT_EQ(decoded.op, Op::kReopenLog);
  EXPECT_EQ(decoded.container_id, "c");
}

}  // namespace
}  // namespace converge::process::monitor_protocol
