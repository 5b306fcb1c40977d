// Protobuf messages as JSON with the .proto field names, for the verbose
// CRI info and the dump tool.
#ifndef CONVERGE_COMMON_PROTO_JSON_H_
#define CONVERGE_COMMON_PROTO_JSON_H_

#include <string>

#include "google/protobuf/message.h"

namespace converge {

// "null" if the message cannot be printed (it always can for our messages).
std::string ProtoToJson(const google::protobuf::Message& message, bool pretty = false);

}  // namespace converge

#endif  // CONVERGE_COMMON_PROTO_JSON_H_
