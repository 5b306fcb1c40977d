"""Protobuf and gRPC C++ code generation with Debian's protoc and plugin.

Bazel 4.2.3's proto rules want protobuf sources from the network, so a genrule
runs /usr/bin/protoc directly. Imports are resolved from the workspace root,
e.g. `import "api/cri/api.proto";`.
"""

def cc_proto(name, src, deps = [], grpc = False, visibility = None):
    """Generates `<src>.pb.{h,cc}` (and `.grpc.pb.{h,cc}` with grpc) as a cc_library."""
    base = src[:-len(".proto")]
    outs = [base + ".pb.h", base + ".pb.cc"]
    cmd = "/usr/bin/protoc -I. -I$(GENDIR) --cpp_out=$(GENDIR)"
    if grpc:
        outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]
        cmd += " --grpc_out=$(GENDIR) --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin"
    native.genrule(
        name = name + "_gen",
        srcs = [src] + [d + "_srcs" for d in deps],
        outs = outs,
        cmd = cmd + " $(location " + src + ")",
    )
    native.filegroup(
        name = name + "_srcs",
        srcs = [src] + [d + "_srcs" for d in deps],
        visibility = visibility,
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        deps = deps + ["@system//:protobuf"] + (["@system//:grpc"] if grpc else []),
        visibility = visibility,
    )
