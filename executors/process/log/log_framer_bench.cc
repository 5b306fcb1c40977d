// Throughput of framing container output into CRI log records: 1 MiB of
// typical 100-byte lines, fed in read()-sized chunks, each chunk with its own
// timestamp as the monitor would stamp it.
//
//   bazel run -c opt //executors/process/log:log_framer_bench
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "executors/process/log/cri_log.h"

namespace converge {
namespace {

constexpr size_t kInputSize = 1 << 20;
constexpr size_t kLineSize = 100;  // 99 bytes of text and "\n".

std::string TypicalOutput() {
  std::string line(kLineSize - 1, ' ');
  for (size_t i = 0; i < line.size(); ++i) {
    line[i] = static_cast<char>('!' + i % 90);
  }
  line += '\n';
  std::string out;
  while (out.size() + line.size() <= kInputSize) out += line;
  out.append(line, 0, kInputSize - out.size());
  return out;
}

// Argument: the chunk size, from a small read to a full 64 KiB pipe buffer.
void BM_FrameTypicalLines(benchmark::State& state) {
  const std::string input = TypicalOutput();
  const size_t chunk = static_cast<size_t>(state.range(0));
  absl::Time now = absl::FromUnixNanos(1475713029669794202);
  int64_t records = 0;
  for (auto _ : state) {
    LogLineFramer framer(LogStream::kStdout);
    auto sink = [&](absl::string_view record) {
      benchmark::DoNotOptimize(record.data());
      ++records;
    };
    for (size_t pos = 0; pos < input.size(); pos += chunk) {
      framer.Feed(absl::string_view(input).substr(pos, chunk), now, sink);
      now += absl::Microseconds(1);
    }
    framer.Finish(now, sink);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(input.size()));
  state.counters["records"] = benchmark::Counter(static_cast<double>(records),
                                                 benchmark::Counter::kIsRate);
}
BENCHMARK(BM_FrameTypicalLines)->Arg(4096)->Arg(65536);

}  // namespace
}  // namespace converge

BENCHMARK_MAIN();
