#include "core/error.h"

namespace skipdit {

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::InvalidArgument: return "InvalidArgument";
    case ErrorKind::Checkpoint: return "Checkpoint";
    case ErrorKind::BackendUnavailable: return "BackendUnavailable";
    case ErrorKind::Internal: return "Internal";
    case ErrorKind::Aborted: return "Aborted";
  }
  return "Internal";
}

}  // namespace skipdit
