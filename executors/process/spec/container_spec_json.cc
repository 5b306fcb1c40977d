#include "executors/process/spec/container_spec_json.h"

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace converge::process {
namespace {

using nlohmann::json;

const char* PropagationName(Propagation propagation) {
  switch (propagation) {
    case Propagation::kPrivate:
      return "private";
    case Propagation::kSlave:
      return "slave";
    case Propagation::kShared:
      return "shared";
  }
  return "private";
}

const char* SeccompModeName(SeccompSpec::Mode mode) {
  switch (mode) {
    case SeccompSpec::Mode::kUnconfined:
      return "unconfined";
    case SeccompSpec::Mode::kRuntimeDefault:
      return "runtime_default";
    case SeccompSpec::Mode::kProfile:
      return "profile";
  }
  return "runtime_default";
}

json ProcessToJson(const ProcessSpec& p) {
  json rlimits = json::array();
  for (const Rlimit& r : p.rlimits) {
    rlimits.push_back({{"resource", r.resource}, {"soft", r.soft}, {"hard", r.hard}});
  }
  return json{
      {"args", p.args},
      {"env", p.env},
      {"cwd", p.cwd},
      {"uid", p.uid},
      {"gid", p.gid},
      {"additional_gids", p.additional_gids},
      {"capabilities",
       {{"bounding", p.capabilities.bounding},
        {"effective", p.capabilities.effective},
        {"permitted", p.capabilities.permitted},
        {"inheritable", p.capabilities.inheritable},
        {"ambient", p.capabilities.ambient}}},
      {"no_new_privileges", p.no_new_privileges},
      {"seccomp",
       {{"mode", SeccompModeName(p.seccomp.mode)}, {"profile_json", p.seccomp.profile_json}}},
      {"rlimits", rlimits},
      {"oom_score_adj", p.oom_score_adj},
      {"set_oom_score_adj", p.set_oom_score_adj},
  };
}

// Reads fields of one JSON object, `path` naming it in errors ("" for the
// root, "mounts[2]." for an element).
class ObjectReader {
 public:
  ObjectReader(const json& object, std::string path) : object_(object), path_(std::move(path)) {}

  absl::Status Check() const {
    if (object_.is_object()) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(path_.empty() ? "(root)" : path_.substr(0, path_.size() - 1),
                     ": expected an object"));
  }

  std::string Field(const char* key) const { return path_ + key; }

  // nullptr when absent or null (the default stays).
  const json* Find(const char* key) const {
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  absl::Status String(const char* key, std::string* out) const {
    const json* value = Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_string()) return Error(Field(key), "expected a string");
    *out = value->get<std::string>();
    return absl::OkStatus();
  }

  absl::Status Bool(const char* key, bool* out) const {
    const json* value = Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_boolean()) return Error(Field(key), "expected a boolean");
    *out = value->get<bool>();
    return absl::OkStatus();
  }

  template <typename T>
  absl::Status Unsigned(const char* key, T* out) const {
    const json* value = Find(key);
    if (value == nullptr) return absl::OkStatus();
    return UnsignedValue(*value, Field(key), out);
  }

  template <typename T>
  absl::Status Signed(const char* key, T* out) const {
    const json* value = Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (value->is_number_unsigned()) {
      if (value->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
        return Error(Field(key), "out of range");
      }
    } else if (value->is_number_integer()) {
      int64_t v = value->get<int64_t>();
      if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) {
        return Error(Field(key), "out of range");
      }
    } else {
      return Error(Field(key), "expected an integer");
    }
    *out = value->get<T>();
    return absl::OkStatus();
  }

  absl::Status StringList(const char* key, std::vector<std::string>* out) const {
    const json* value = Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_array()) return Error(Field(key), "expected an array of strings");
    out->clear();
    for (size_t i = 0; i < value->size(); ++i) {
      if (!(*value)[i].is_string()) {
        return Error(absl::StrCat(Field(key), "[", i, "]"), "expected a string");
      }
      out->push_back((*value)[i].get<std::string>());
    }
    return absl::OkStatus();
  }

  absl::Status U32List(const char* key, std::vector<uint32_t>* out) const {
    const json* value = Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_array()) return Error(Field(key), "expected an array of integers");
    out->clear();
    for (size_t i = 0; i < value->size(); ++i) {
      uint32_t item = 0;
      CONVERGE_RETURN_IF_ERROR(
          UnsignedValue((*value)[i], absl::StrCat(Field(key), "[", i, "]"), &item));
      out->push_back(item);
    }
    return absl::OkStatus();
  }

  // Calls parse(element_reader, index) for each element of the array `key`.
  template <typename Fn>
  absl::Status Array(const char* key, Fn parse) const {
    const json* value = Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_array()) return Error(Field(key), "expected an array");
    for (size_t i = 0; i < value->size(); ++i) {
      ObjectReader element((*value)[i], absl::StrCat(Field(key), "[", i, "]."));
      CONVERGE_RETURN_IF_ERROR(element.Check());
      CONVERGE_RETURN_IF_ERROR(parse(element));
    }
    return absl::OkStatus();
  }

  // A reader for the nested object `key` (an empty object when absent).
  absl::StatusOr<ObjectReader> Object(const char* key) const {
    static const json* const kEmpty = new json(json::object());
    const json* value = Find(key);
    ObjectReader nested(value == nullptr ? *kEmpty : *value, Field(key) + ".");
    CONVERGE_RETURN_IF_ERROR(nested.Check());
    return nested;
  }

  static absl::Status Error(const std::string& field, absl::string_view problem) {
    return absl::InvalidArgumentError(absl::StrCat("container spec: ", field, ": ", problem));
  }

 private:
  template <typename T>
  static absl::Status UnsignedValue(const json& value, const std::string& field, T* out) {
    if (!value.is_number_unsigned()) return Error(field, "expected an unsigned integer");
    if (value.get<uint64_t>() > std::numeric_limits<T>::max()) return Error(field, "out of range");
    *out = value.get<T>();
    return absl::OkStatus();
  }

  const json& object_;
  std::string path_;
};

absl::Status ParsePropagation(const ObjectReader& reader, const char* key, Propagation* out) {
  std::string name;
  CONVERGE_RETURN_IF_ERROR(reader.String(key, &name));
  if (name.empty()) return absl::OkStatus();
  if (name == "private") {
    *out = Propagation::kPrivate;
  } else if (name == "slave") {
    *out = Propagation::kSlave;
  } else if (name == "shared") {
    *out = Propagation::kShared;
  } else {
    return ObjectReader::Error(reader.Field(key), absl::StrCat("unknown propagation `", name, "`"));
  }
  return absl::OkStatus();
}

absl::Status ParseProcess(const ObjectReader& r, ProcessSpec* p) {
  CONVERGE_RETURN_IF_ERROR(r.StringList("args", &p->args));
  CONVERGE_RETURN_IF_ERROR(r.StringList("env", &p->env));
  CONVERGE_RETURN_IF_ERROR(r.String("cwd", &p->cwd));
  CONVERGE_RETURN_IF_ERROR(r.Unsigned("uid", &p->uid));
  CONVERGE_RETURN_IF_ERROR(r.Unsigned("gid", &p->gid));
  CONVERGE_RETURN_IF_ERROR(r.U32List("additional_gids", &p->additional_gids));
  CONVERGE_ASSIGN_OR_RETURN(ObjectReader caps, r.Object("capabilities"));
  CONVERGE_RETURN_IF_ERROR(caps.Unsigned("bounding", &p->capabilities.bounding));
  CONVERGE_RETURN_IF_ERROR(caps.Unsigned("effective", &p->capabilities.effective));
  CONVERGE_RETURN_IF_ERROR(caps.Unsigned("permitted", &p->capabilities.permitted));
  CONVERGE_RETURN_IF_ERROR(caps.Unsigned("inheritable", &p->capabilities.inheritable));
  CONVERGE_RETURN_IF_ERROR(caps.Unsigned("ambient", &p->capabilities.ambient));
  CONVERGE_RETURN_IF_ERROR(r.Bool("no_new_privileges", &p->no_new_privileges));
  CONVERGE_ASSIGN_OR_RETURN(ObjectReader seccomp, r.Object("seccomp"));
  std::string mode;
  CONVERGE_RETURN_IF_ERROR(seccomp.String("mode", &mode));
  if (mode == "unconfined") {
    p->seccomp.mode = SeccompSpec::Mode::kUnconfined;
  } else if (mode == "runtime_default" || mode.empty()) {
    p->seccomp.mode = SeccompSpec::Mode::kRuntimeDefault;
  } else if (mode == "profile") {
    p->seccomp.mode = SeccompSpec::Mode::kProfile;
  } else {
    return ObjectReader::Error(seccomp.Field("mode"), absl::StrCat("unknown mode `", mode, "`"));
  }
  CONVERGE_RETURN_IF_ERROR(seccomp.String("profile_json", &p->seccomp.profile_json));
  p->rlimits.clear();
  CONVERGE_RETURN_IF_ERROR(r.Array("rlimits", [p](const ObjectReader& e) -> absl::Status {
    Rlimit limit;
    CONVERGE_RETURN_IF_ERROR(e.Signed("resource", &limit.resource));
    CONVERGE_RETURN_IF_ERROR(e.Unsigned("soft", &limit.soft));
    CONVERGE_RETURN_IF_ERROR(e.Unsigned("hard", &limit.hard));
    p->rlimits.push_back(limit);
    return absl::OkStatus();
  }));
  CONVERGE_RETURN_IF_ERROR(r.Signed("oom_score_adj", &p->oom_score_adj));
  return r.Bool("set_oom_score_adj", &p->set_oom_score_adj);
}

absl::Status ParseSpec(const ObjectReader& r, ContainerSpec* spec) {
  CONVERGE_RETURN_IF_ERROR(r.Check());
  CONVERGE_RETURN_IF_ERROR(r.String("id", &spec->id));
  CONVERGE_RETURN_IF_ERROR(r.String("sandbox_id", &spec->sandbox_id));
  CONVERGE_RETURN_IF_ERROR(r.String("rootfs", &spec->rootfs));
  CONVERGE_RETURN_IF_ERROR(r.Bool("readonly_rootfs", &spec->readonly_rootfs));
  CONVERGE_RETURN_IF_ERROR(ParsePropagation(r, "rootfs_propagation", &spec->rootfs_propagation));
  CONVERGE_RETURN_IF_ERROR(r.Array("namespaces", [spec](const ObjectReader& e) -> absl::Status {
    NamespaceSpec ns;
    CONVERGE_RETURN_IF_ERROR(e.String("kind", &ns.kind));
    CONVERGE_RETURN_IF_ERROR(e.String("path", &ns.path));
    spec->namespaces.push_back(std::move(ns));
    return absl::OkStatus();
  }));
  CONVERGE_RETURN_IF_ERROR(r.Array("mounts", [spec](const ObjectReader& e) -> absl::Status {
    MountSpec mount;
    CONVERGE_RETURN_IF_ERROR(e.String("destination", &mount.destination));
    CONVERGE_RETURN_IF_ERROR(e.String("type", &mount.type));
    CONVERGE_RETURN_IF_ERROR(e.String("source", &mount.source));
    CONVERGE_RETURN_IF_ERROR(e.Unsigned("flags", &mount.flags));
    CONVERGE_RETURN_IF_ERROR(e.String("data", &mount.data));
    CONVERGE_RETURN_IF_ERROR(ParsePropagation(e, "propagation", &mount.propagation));
    spec->mounts.push_back(std::move(mount));
    return absl::OkStatus();
  }));
  CONVERGE_RETURN_IF_ERROR(r.StringList("masked_paths", &spec->masked_paths));
  CONVERGE_RETURN_IF_ERROR(r.StringList("readonly_paths", &spec->readonly_paths));
  CONVERGE_RETURN_IF_ERROR(r.Array("devices", [spec](const ObjectReader& e) -> absl::Status {
    ContainerSpec::Device device;
    CONVERGE_RETURN_IF_ERROR(e.String("path", &device.path));
    std::string type = "c";
    CONVERGE_RETURN_IF_ERROR(e.String("type", &type));
    if (type != "c" && type != "b") {
      return ObjectReader::Error(e.Field("type"), absl::StrCat("expected \"c\" or \"b\", not `",
                                                               type, "`"));
    }
    device.type = type[0];
    CONVERGE_RETURN_IF_ERROR(e.Unsigned("major", &device.major));
    CONVERGE_RETURN_IF_ERROR(e.Unsigned("minor", &device.minor));
    CONVERGE_RETURN_IF_ERROR(e.Unsigned("mode", &device.mode));
    CONVERGE_RETURN_IF_ERROR(e.Unsigned("uid", &device.uid));
    CONVERGE_RETURN_IF_ERROR(e.Unsigned("gid", &device.gid));
    spec->devices.push_back(std::move(device));
    return absl::OkStatus();
  }));
  CONVERGE_RETURN_IF_ERROR(r.String("hostname", &spec->hostname));
  CONVERGE_RETURN_IF_ERROR(r.StringList("cgroup_procs_files", &spec->cgroup_procs_files));
  CONVERGE_RETURN_IF_ERROR(r.String("exec_fifo", &spec->exec_fifo));
  CONVERGE_ASSIGN_OR_RETURN(ObjectReader process, r.Object("process"));
  CONVERGE_RETURN_IF_ERROR(ParseProcess(process, &spec->process));
  CONVERGE_RETURN_IF_ERROR(r.String("log_path", &spec->log_path));
  return r.Signed("stop_signal", &spec->stop_signal);
}

}  // namespace

std::string SerializeContainerSpec(const ContainerSpec& spec) {
  json namespaces = json::array();
  for (const NamespaceSpec& ns : spec.namespaces) {
    namespaces.push_back({{"kind", ns.kind}, {"path", ns.path}});
  }
  json mounts = json::array();
  for (const MountSpec& m : spec.mounts) {
    mounts.push_back({{"destination", m.destination},
                      {"type", m.type},
                      {"source", m.source},
                      {"flags", m.flags},
                      {"data", m.data},
                      {"propagation", PropagationName(m.propagation)}});
  }
  json devices = json::array();
  for (const ContainerSpec::Device& d : spec.devices) {
    devices.push_back({{"path", d.path},
                       {"type", std::string(1, d.type)},
                       {"major", d.major},
                       {"minor", d.minor},
                       {"mode", d.mode},
                       {"uid", d.uid},
                       {"gid", d.gid}});
  }
  json root = {
      {"id", spec.id},
      {"sandbox_id", spec.sandbox_id},
      {"rootfs", spec.rootfs},
      {"readonly_rootfs", spec.readonly_rootfs},
      {"rootfs_propagation", PropagationName(spec.rootfs_propagation)},
      {"namespaces", namespaces},
      {"mounts", mounts},
      {"masked_paths", spec.masked_paths},
      {"readonly_paths", spec.readonly_paths},
      {"devices", devices},
      {"hostname", spec.hostname},
      {"cgroup_procs_files", spec.cgroup_procs_files},
      {"exec_fifo", spec.exec_fifo},
      {"process", ProcessToJson(spec.process)},
      {"log_path", spec.log_path},
      {"stop_signal", spec.stop_signal},
  };
  return root.dump(-1, ' ', false, json::error_handler_t::replace);
}

absl::StatusOr<ContainerSpec> ParseContainerSpec(absl::string_view text) {
  try {
    json root = json::parse(text.begin(), text.end());
    ContainerSpec spec;
    CONVERGE_RETURN_IF_ERROR(ParseSpec(ObjectReader(root, ""), &spec));
    return spec;
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("container spec: not JSON: ", e.what()));
  }
}

}  // namespace converge::process
