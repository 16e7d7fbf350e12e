// Registration only: each concept's binding file (xgboost/, tdigest/, ...) adds itself through a
// sluice::Registrar. Context-aware (NODE_API_MODULE), so it loads in worker threads and Piscina.
#include "common/module.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new sluice::InstanceData());  // freed by N-API when this environment ends
  for (auto& init : sluice::ModuleInits()) init(env, exports);
  return exports;
}

NODE_API_MODULE(sluice, Init)
