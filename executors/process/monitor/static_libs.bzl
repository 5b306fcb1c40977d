"""Static copies of system libraries, for binaries that must not depend on them.

`static_lib_dir(name, libs)` copies the static archives (`lib<x>.a`) matching
the glob patterns in `libs` from the compiler's library directory into a
directory of their own. Put that directory first on the library search path
(`-L`) of a binary and every `-l<x>` it has a `.a` for resolves to the archive,
whatever the order of the link line and wherever the `-l` came from (e.g. the
pkg-config linkopts of `@system//:absl`): the linker takes the first
directory that has either form of the library.
"""

def _static_lib_dir_impl(ctx):
    out = ctx.actions.declare_directory(ctx.attr.name)
    ctx.actions.run_shell(
        outputs = [out],
        command = """
set -eu
dir=$(dirname "$(gcc -print-file-name={probe})")
n=0
for pattern in {patterns}; do
  for lib in "$dir"/$pattern; do
    [ -f "$lib" ] || continue
    cp "$lib" "{out}/"
    n=$((n + 1))
  done
done
[ "$n" -gt 0 ] || {{ echo "no static library matches {patterns} in $dir" >&2; exit 1; }}
""".format(
            probe = ctx.attr.probe,
            patterns = " ".join(["'%s'" % p for p in ctx.attr.libs]),
            out = out.path,
        ),
        mnemonic = "StaticLibDir",
        progress_message = "Collecting static libraries for %s" % ctx.label,
        use_default_shell_env = True,
    )
    return [DefaultInfo(files = depset([out]))]

static_lib_dir = rule(
    implementation = _static_lib_dir_impl,
    attrs = {
        # Glob patterns of archive names, e.g. "libabsl_*.a".
        "libs": attr.string_list(mandatory = True),
        # An archive that exists, to find the directory.
        "probe": attr.string(mandatory = True),
    },
)
