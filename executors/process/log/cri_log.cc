#include "executors/process/log/cri_log.h"

#include <cstdint>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"

namespace converge {

absl::string_view LogStreamName(LogStream stream) {
  return stream == LogStream::kStdout ? "stdout" : "stderr";
}

std::string FormatRfc3339Nano(absl::Time t) {
  // absl keeps quarter-nanoseconds and %E*S would print them; Go's time has
  // none, and its Format truncates toward the past.
  const absl::Time ns = absl::UnixEpoch() + absl::Floor(t - absl::UnixEpoch(),
                                                        absl::Nanoseconds(1));
  // %E*S trims trailing zeros and drops the "." of a zero fraction, as Go's
  // ".999999999" layout does.
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", ns, absl::UTCTimeZone());
}

LogLineFramer::LogLineFramer(LogStream stream, size_t max_line)
    : stream_name_(LogStreamName(stream)), max_line_(max_line) {
  if (max_line_ == 0) std::abort();  // Broken invariant: unbounded lines.
}

void LogLineFramer::Feed(absl::string_view chunk, absl::Time now, EmitFn emit) {
  if (chunk.empty()) return;
  if (pending_cr_) {
    pending_cr_ = false;
    if (chunk.front() == '\n') {
      EndLine("", now, emit);
      chunk.remove_prefix(1);
    } else {
      AppendToLine("\r", now, emit);
    }
  }
  while (!chunk.empty()) {
    const size_t newline = chunk.find('\n');
    if (newline == absl::string_view::npos) {
      // A trailing "\r" may be the first half of a "\r\n" split across reads.
      if (chunk.back() == '\r') {
        pending_cr_ = true;
        chunk.remove_suffix(1);
      }
      AppendToLine(chunk, now, emit);
      return;
    }
    absl::string_view tail = chunk.substr(0, newline);
    if (!tail.empty() && tail.back() == '\r') tail.remove_suffix(1);
    EndLine(tail, now, emit);
    chunk.remove_prefix(newline + 1);
  }
}

void LogLineFramer::Finish(absl::Time now, EmitFn emit) {
  if (pending_cr_) {
    pending_cr_ = false;
    AppendToLine("\r", now, emit);
  }
  if (line_.empty()) return;
  EmitRecord('P', line_, "", now, emit);
  line_.clear();
}

absl::string_view LogLineFramer::SplitOverlong(absl::string_view bytes,
                                               absl::Time now, EmitFn emit) {
  // Strictly greater: a line of exactly max_line_ bytes may still end with
  // "\n" and then is one F record, as in containerd.
  while (line_.size() + bytes.size() > max_line_) {
    const size_t take = max_line_ - line_.size();
    EmitRecord('P', line_, bytes.substr(0, take), now, emit);
    line_.clear();
    bytes.remove_prefix(take);
  }
  return bytes;
}

void LogLineFramer::AppendToLine(absl::string_view bytes, absl::Time now,
                                 EmitFn emit) {
  const absl::string_view rest = SplitOverlong(bytes, now, emit);
  line_.append(rest.data(), rest.size());
}

void LogLineFramer::EndLine(absl::string_view tail, absl::Time now,
                            EmitFn emit) {
  // Split first: it may clear line_, which EmitRecord then reads.
  const absl::string_view rest = SplitOverlong(tail, now, emit);
  EmitRecord('F', line_, rest, now, emit);
  line_.clear();
}

void LogLineFramer::EmitRecord(char tag, absl::string_view head,
                               absl::string_view tail, absl::Time now,
                               EmitFn emit) {
  if (stamp_.empty() || now != stamp_time_) {
    stamp_ = FormatRfc3339Nano(now);
    stamp_time_ = now;
  }
  record_.clear();
  absl::StrAppend(&record_, stamp_, " ", stream_name_, " ",
                  absl::string_view(&tag, 1), " ", head, tail, "\n");
  emit(record_);
}

namespace {

absl::Status Invalid(absl::string_view reason, absl::string_view field) {
  return absl::InvalidArgumentError(absl::StrCat(
      "CRI log record: ", reason, " \"", absl::CHexEscape(field), "\""));
}

// Consumes exactly `digits` decimal digits from the front of `s`.
bool ConsumeNumber(absl::string_view& s, int digits, int64_t& out) {
  if (s.size() < static_cast<size_t>(digits)) return false;
  out = 0;
  for (int i = 0; i < digits; ++i) {
    if (!absl::ascii_isdigit(s[i])) return false;
    out = out * 10 + (s[i] - '0');
  }
  s.remove_prefix(digits);
  return true;
}

bool ConsumeChar(absl::string_view& s, char c) {
  if (s.empty() || s.front() != c) return false;
  s.remove_prefix(1);
  return true;
}

// Strict RFC 3339 as Go's time.Parse(time.RFC3339Nano, …) reads it; hand
// written because absl::ParseTime also takes whitespace, "infinite-future",
// any number of year digits and second 60.
absl::StatusOr<absl::Time> ParseRfc3339(absl::string_view text) {
  absl::string_view s = text;
  int64_t year, month, day, hour, minute, second;
  if (!ConsumeNumber(s, 4, year) || !ConsumeChar(s, '-') ||
      !ConsumeNumber(s, 2, month) || !ConsumeChar(s, '-') ||
      !ConsumeNumber(s, 2, day) || !ConsumeChar(s, 'T') ||
      !ConsumeNumber(s, 2, hour) || !ConsumeChar(s, ':') ||
      !ConsumeNumber(s, 2, minute) || !ConsumeChar(s, ':') ||
      !ConsumeNumber(s, 2, second)) {
    return Invalid("timestamp is not YYYY-MM-DDTHH:MM:SS", text);
  }
  int64_t nanos = 0;
  if (ConsumeChar(s, '.')) {
    int digits = 0;
    while (!s.empty() && absl::ascii_isdigit(s.front())) {
      if (++digits > 9)
        return Invalid("timestamp fraction over 9 digits", text);
      nanos = nanos * 10 + (s.front() - '0');
      s.remove_prefix(1);
    }
    if (digits == 0) return Invalid("timestamp fraction has no digits", text);
    for (int i = digits; i < 9; ++i) nanos *= 10;
  }
  int64_t offset_minutes = 0;
  if (!ConsumeChar(s, 'Z')) {
    const bool east = ConsumeChar(s, '+');
    if (!east && !ConsumeChar(s, '-')) {
      return Invalid("timestamp has no Z or +hh:mm offset", text);
    }
    int64_t offset_hours, offset_mins;
    if (!ConsumeNumber(s, 2, offset_hours) || !ConsumeChar(s, ':') ||
        !ConsumeNumber(s, 2, offset_mins) || offset_hours > 23 ||
        offset_mins > 59) {
      return Invalid("timestamp offset is not hh:mm", text);
    }
    offset_minutes = (east ? 1 : -1) * (offset_hours * 60 + offset_mins);
  }
  if (!s.empty()) return Invalid("timestamp has trailing bytes", text);
  // CivilSecond normalizes out-of-range fields (Feb 30 -> Mar 2); a field
  // that changed was out of range.
  const absl::CivilSecond civil(year, month, day, hour, minute, second);
  if (civil.month() != month || civil.day() != day || civil.hour() != hour ||
      civil.minute() != minute || civil.second() != second) {
    return Invalid("timestamp field out of range", text);
  }
  return absl::FromCivil(civil, absl::UTCTimeZone()) +
         absl::Nanoseconds(nanos) - absl::Minutes(offset_minutes);
}

// Splits off the space-terminated field at the front of `s`.
bool ConsumeField(absl::string_view& s, absl::string_view& field) {
  const size_t space = s.find(' ');
  if (space == absl::string_view::npos) return false;
  field = s.substr(0, space);
  s.remove_prefix(space + 1);
  return true;
}

}  // namespace

absl::StatusOr<LogRecord> ParseLogRecord(absl::string_view line) {
  absl::string_view s = line;
  if (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  if (s.find('\n') != absl::string_view::npos) {
    return Invalid("newline inside a record", line);
  }
  LogRecord record;
  absl::string_view field;
  if (!ConsumeField(s, field)) return Invalid("timestamp is not found", line);
  absl::StatusOr<absl::Time> time = ParseRfc3339(field);
  if (!time.ok()) return time.status();
  record.time = *time;

  if (!ConsumeField(s, field)) return Invalid("stream type is not found", line);
  if (field == "stdout") {
    record.stream = LogStream::kStdout;
  } else if (field == "stderr") {
    record.stream = LogStream::kStderr;
  } else {
    return Invalid("unexpected stream type", field);
  }

  if (!ConsumeField(s, field)) return Invalid("log tag is not found", line);
  const absl::string_view tag = field.substr(0, field.find(':'));
  if (tag == "P") {
    record.partial = true;
  } else if (tag == "F") {
    record.partial = false;
  } else {
    return Invalid("unexpected log tag", field);
  }
  record.content = std::string(s);
  return record;
}

}  // namespace converge
