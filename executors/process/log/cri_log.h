// The CRI container log format that kubelet reads (`kubectl logs`) and that
// containerd (internal/cri/io/logger.go), CRI-O (conmon) and converge write:
// one record per line,
//
//   <timestamp> <stream> <tag> <content>\n
//   2016-10-06T00:17:09.669794202Z stdout F hello world
//
// where the timestamp is Go's time.RFC3339Nano, the stream is `stdout` or
// `stderr`, and the tag is `F` (the container's line ended here; its newline
// is not part of content) or `P` (partial: the line continues in the next
// record, and a reader joins the two without a newline).
//
// Pure and streaming, for the per-pod monitor that drains container pipes:
//
//   LogLineFramer framer(LogStream::kStdout);
//   auto write = [&](absl::string_view record) { WriteAll(log_fd, record); };
//   while ((n = read(fd, buf, sizeof(buf))) > 0) {
//     framer.Feed(absl::string_view(buf, n), absl::Now(), write);
//   }
//   framer.Finish(absl::Now(), write);
#ifndef CONVERGE_EXECUTORS_PROCESS_LOG_CRI_LOG_H_
#define CONVERGE_EXECUTORS_PROCESS_LOG_CRI_LOG_H_

#include <cstddef>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace converge {

enum class LogStream { kStdout, kStderr };

// "stdout" or "stderr", as written in a record.
absl::string_view LogStreamName(LogStream stream);

// containerd's default `max_container_log_line_size`.
inline constexpr size_t kDefaultMaxLogLine = 16 * 1024;

// `t` as Go's time.RFC3339Nano formats it in UTC: nanoseconds, truncated
// (not rounded) like Go's, trailing zeros of the fraction trimmed and the
// fraction dropped entirely when zero:
//   2016-10-06T00:17:09.669794202Z, 2016-10-06T00:17:09.6697942Z,
//   2016-10-06T00:17:09Z.
// `t` must be finite and within years 0000-9999, as in any real log.
std::string FormatRfc3339Nano(absl::Time t);

// Splits the byte stream of one container stream into CRI log records,
// exactly as containerd's redirectLogs does (whatever the read boundaries):
// - "\n" ends a line: an `F` record whose content drops the "\n", and also
//   a "\r" right before it ("\r\n" endings); any other "\r" is content.
// - A line longer than `max_line` bytes is cut into `P` records of exactly
//   `max_line` bytes, the rest following as usual. A line of exactly
//   `max_line` bytes and its newline is one `F` record.
// - At end of stream (Finish) an unterminated remainder becomes a `P` record:
//   containerd writes it as partial because no newline was seen; nothing is
//   written when nothing is pending.
//
// Memory is bounded: at most `max_line` bytes of an unterminated line are
// buffered (plus a pending "\r" that may turn out to be part of "\r\n").
// Not thread-safe: one framer per stream, fed by one reader. After Finish the
// framer is empty and may start a new stream.
class LogLineFramer {
 public:
  // Called once per complete record, trailing "\n" included; the view is
  // valid only during the call.
  using EmitFn = absl::FunctionRef<void(absl::string_view record)>;

  // `max_line` > 0: the content size above which a line is split.
  explicit LogLineFramer(LogStream stream,
                         size_t max_line = kDefaultMaxLogLine);

  LogLineFramer(const LogLineFramer&) = delete;
  LogLineFramer& operator=(const LogLineFramer&) = delete;

  // Consumes `chunk` (whatever read() returned). Every record it completes is
  // stamped with `now`: like containerd, the time a record is written, not
  // when its first byte arrived.
  void Feed(absl::string_view chunk, absl::Time now, EmitFn emit);

  // End of stream: emits a pending unterminated line as `P`.
  void Finish(absl::Time now, EmitFn emit);

 private:
  // Emits `P` records of exactly max_line_ bytes while the current line plus
  // `bytes` would outgrow max_line_; returns what still belongs to the line.
  absl::string_view SplitOverlong(absl::string_view bytes, absl::Time now,
                                  EmitFn emit);
  // Adds bytes of the current line that have no newline yet.
  void AppendToLine(absl::string_view bytes, absl::Time now, EmitFn emit);
  // Ends the current line with its last bytes (newline already removed).
  void EndLine(absl::string_view tail, absl::Time now, EmitFn emit);
  void EmitRecord(char tag, absl::string_view head, absl::string_view tail,
                  absl::Time now, EmitFn emit);

  const absl::string_view stream_name_;
  const size_t max_line_;
  std::string line_;         // Unterminated line so far, at most max_line_.
  bool pending_cr_ = false;  // The last byte fed was a "\r", not yet in line_.
  std::string record_;       // Reused for every record, to avoid allocating.
  // One read usually completes many records with the same `now`.
  absl::Time stamp_time_ = absl::InfinitePast();
  std::string stamp_;
};

// One record as kubelet's parseCRILog reads it.
struct LogRecord {
  absl::Time time;
  LogStream stream;
  bool partial;         // Tag `P`.
  std::string content;  // Without the record's trailing "\n".
};

// Parses one record, with or without its trailing "\n". Accepts what kubelet
// accepts from any runtime: a timestamp with a numeric offset (containerd
// writes local time) or `Z`, 0-9 fraction digits, and further `:`-separated
// tags after `P`/`F` (reserved by CRI for forward compatibility). Stricter
// than kubelet only where kubelet guesses: an unknown first tag, or a "\n"
// inside the record, is INVALID_ARGUMENT like every other malformed record,
// with the reason in the message.
absl::StatusOr<LogRecord> ParseLogRecord(absl::string_view line);

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_PROCESS_LOG_CRI_LOG_H_
