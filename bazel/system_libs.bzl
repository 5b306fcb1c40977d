"""Exposes Debian's system libraries to Bazel through pkg-config.

Each entry becomes `@system//:<name>`, a cc_library carrying the flags that
`pkg-config --cflags/--libs` prints for its modules. Headers live under
/usr/include, which the toolchain already searches.
"""

_LIBS = {
    "absl": [
        "absl_flags_parse",
        "absl_flags",
        "absl_status",
        "absl_statusor",
        "absl_strings",
        "absl_str_format",
        "absl_synchronization",
        "absl_time",
        "absl_random_random",
        "absl_hash",
        "absl_raw_hash_set",
    ],
    "grpc": ["grpc++"],
    "protobuf": ["protobuf"],
    "rocksdb": ["rocksdb"],
    "spdlog": ["spdlog"],
    "gtest_main": ["gmock", "gtest_main"],
    "gtest": ["gmock", "gtest"],
    "benchmark": ["benchmark"],
    "json": ["nlohmann_json"],
    "httplib": ["cpp-httplib"],
    "curl": ["libcurl"],
    "crypto": ["libcrypto"],
    "zlib": ["zlib"],
    "zstd": ["libzstd"],
    "archive": ["libarchive"],
    "seccomp": ["libseccomp"],
}

def _pkg_config(ctx, flag, modules):
    result = ctx.execute(["pkg-config", flag] + modules)
    if result.return_code != 0:
        fail("pkg-config %s %s failed (run ./install.sh first): %s" %
             (flag, " ".join(modules), result.stderr))
    return result.stdout.strip().split(" ")

def _quote_list(items):
    return "[" + ", ".join(['"%s"' % i for i in items if i]) + "]"

def _system_libs_impl(ctx):
    rules = ['package(default_visibility = ["//visibility:public"])\n']
    for name, modules in _LIBS.items():
        cflags = _pkg_config(ctx, "--cflags", modules)
        defines = [f[2:] for f in cflags if f.startswith("-D")]
        copts = [f for f in cflags if f and not f.startswith("-D") and not f.startswith("-I/usr/include")]
        linkopts = _pkg_config(ctx, "--libs", modules)
        rules.append("""cc_library(
    name = "%s",
    defines = %s,
    copts = %s,
    linkopts = %s,
)
""" % (name, _quote_list(defines), _quote_list(copts), _quote_list(linkopts)))
    ctx.file("BUILD.bazel", "\n".join(rules))
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)

system_libs = repository_rule(
    implementation = _system_libs_impl,
    local = True,
    configure = True,
)
