// JS binding of xgb::Forest: `new XgbForest(spec)`, `predict(rows, nRows[, out])`,
// `predictMargin(rows, nRows)`. The spec's typed arrays come from src/scoring/xgboost/flatten.ts.
#include <memory>

#include "common/module.h"
#include "xgboost/forest.h"

namespace sluice {
namespace {

constexpr const char* kInvalid = "SLUICE_MODEL_INVALID";
constexpr const char* kInput = "SLUICE_MODEL_INPUT";

class JsForest : public Napi::ObjectWrap<JsForest> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "XgbForest",
                       {InstanceMethod<&JsForest::Predict>("predict"),
                        InstanceMethod<&JsForest::PredictMargin>("predictMargin"),
                        InstanceAccessor<&JsForest::NumFeatures>("numFeatures"),
                        InstanceAccessor<&JsForest::NumGroups>("numGroups"),
                        InstanceAccessor<&JsForest::NumOutputs>("numOutputs")});
  }

  // [sync] new XgbForest(spec). @throw TypeError (SLUICE_MODEL_INVALID) on a field of the wrong type
  // or length; Error (SLUICE_MODEL_INVALID) naming tree and node when the forest is not sound.
  explicit JsForest(const Napi::CallbackInfo& info) : Napi::ObjectWrap<JsForest>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) {
      ThrowTypeError(env, kInvalid, "XgbForest: expected a spec object");
      return;
    }
    Napi::Object spec = info[0].As<Napi::Object>();
    xgb::ForestInput in;
    Span<float> baseMargin, splitCondition, treeWeight;
    Span<int32_t> treeNodeOffset, treeGroup, left, right, splitIndex, catNodeStart, catValues;
    Span<uint8_t> defaultLeft, isCategorical;
    auto num = [&](const char* k, int32_t* out) {
      Napi::Value v = spec.Get(k);
      if (!v.IsNumber()) return false;
      *out = v.As<Napi::Number>().Int32Value();
      return true;
    };
    int32_t transform = 0;
    bool ok = num("numFeatures", &in.numFeatures) && num("numGroups", &in.numGroups) &&
              num("transform", &transform) && GetFloat32Array(spec.Get("baseMargin"), &baseMargin) &&
              GetInt32Array(spec.Get("treeNodeOffset"), &treeNodeOffset) &&
              GetInt32Array(spec.Get("treeGroup"), &treeGroup) && GetFloat32Array(spec.Get("treeWeight"), &treeWeight) &&
              GetInt32Array(spec.Get("left"), &left) && GetInt32Array(spec.Get("right"), &right) &&
              GetInt32Array(spec.Get("splitIndex"), &splitIndex) &&
              GetFloat32Array(spec.Get("splitCondition"), &splitCondition) &&
              GetUint8Array(spec.Get("defaultLeft"), &defaultLeft) &&
              GetUint8Array(spec.Get("isCategorical"), &isCategorical) &&
              GetInt32Array(spec.Get("catNodeStart"), &catNodeStart) && GetInt32Array(spec.Get("catValues"), &catValues);
    if (!ok) {
      ThrowTypeError(env, kInvalid, "XgbForest: spec has a missing field or a field of the wrong type");
      return;
    }
    const size_t nTrees = treeGroup.size, nNodes = left.size;
    if (transform < 0 || transform > static_cast<int32_t>(xgb::Transform::kArgmax) || in.numGroups <= 0 ||
        baseMargin.size != static_cast<size_t>(in.numGroups) || treeNodeOffset.size != nTrees + 1 ||
        treeWeight.size != nTrees || right.size != nNodes || splitIndex.size != nNodes ||
        splitCondition.size != nNodes || defaultLeft.size != nNodes ||
        (isCategorical.size != 0 && isCategorical.size != nNodes) ||
        (isCategorical.size != 0 && catNodeStart.size != nNodes + 1) || nNodes > INT32_MAX / 4) {
      ThrowTypeError(env, kInvalid, "XgbForest: spec arrays have inconsistent lengths");
      return;
    }
    if (isCategorical.size != 0) {
      for (size_t i = 0; i + 1 < catNodeStart.size; ++i) {
        if (catNodeStart.data[i] < 0 || catNodeStart.data[i + 1] < catNodeStart.data[i] ||
            static_cast<size_t>(catNodeStart.data[i + 1]) > catValues.size) {
          ThrowTypeError(env, kInvalid, "XgbForest: category offsets are out of range");
          return;
        }
      }
    }
    in.transform = static_cast<xgb::Transform>(transform);
    in.baseMargin = baseMargin.data;
    in.numTrees = static_cast<int32_t>(nTrees);
    in.treeNodeOffset = treeNodeOffset.data;
    in.treeGroup = treeGroup.data;
    in.treeWeight = treeWeight.data;
    in.numNodes = static_cast<int32_t>(nNodes);
    in.left = left.data;
    in.right = right.data;
    in.splitIndex = splitIndex.data;
    in.splitCondition = splitCondition.data;
    in.defaultLeft = defaultLeft.data;
    in.isCategorical = isCategorical.size ? isCategorical.data : nullptr;
    in.catNodeStart = catNodeStart.data;
    in.catValues = catValues.data;
    std::string error;
    if (!xgb::Forest::Build(in, &forest_, &error)) ThrowError(env, kInvalid, error);
  }

 private:
  // Reads (rows, nRows) and checks that rows holds nRows full rows. Returns false after throwing.
  bool Rows(const Napi::CallbackInfo& info, Span<float>* rows, size_t* nRows) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !GetFloat32Array(info[0], rows) || !info[1].IsNumber()) {
      ThrowTypeError(env, kInput, "predict: expected (rows: Float32Array, nRows: number)");
      return false;
    }
    const double n = info[1].As<Napi::Number>().DoubleValue();
    if (!(n >= 0) || n != static_cast<double>(static_cast<size_t>(n))) {
      ThrowTypeError(env, kInput, "predict: nRows must be a non-negative integer");
      return false;
    }
    *nRows = static_cast<size_t>(n);
    const size_t width = static_cast<size_t>(forest_.numFeatures());
    if (*nRows > rows->size / width) {
      ThrowError(env, kInput, "predict: rows holds " + std::to_string(rows->size) + " values, fewer than nRows (" +
                                  std::to_string(*nRows) + ") x " + std::to_string(width) + " features");
      return false;
    }
    return true;
  }

  // [sync] predict(rows, nRows, out?) -> Float32Array of nRows x numOutputs, after the transform.
  // `out`, when given, must hold that many values; it may be a SharedArrayBuffer view.
  // @throw TypeError / Error (SLUICE_MODEL_INPUT) when rows or out are too short.
  Napi::Value Predict(const Napi::CallbackInfo& info) { return Run(info, false); }

  // [sync] predictMargin(rows, nRows) -> Float32Array of nRows x numGroups, before the transform.
  Napi::Value PredictMargin(const Napi::CallbackInfo& info) { return Run(info, true); }

  Napi::Value Run(const Napi::CallbackInfo& info, bool margin) {
    Napi::Env env = info.Env();
    Span<float> rows;
    size_t nRows = 0;
    if (!Rows(info, &rows, &nRows)) return env.Undefined();
    const size_t width = static_cast<size_t>(margin ? forest_.numGroups() : forest_.numOutputs());
    Napi::Value outValue;
    Span<float> out;
    if (!margin && info.Length() >= 3 && !info[2].IsUndefined()) {
      if (!GetFloat32Array(info[2], &out) || out.size < nRows * width) {
        ThrowTypeError(env, kInput, "predict: out must be a Float32Array of at least nRows x numOutputs values");
        return env.Undefined();
      }
      outValue = info[2];
    } else {
      Napi::Float32Array arr = Napi::Float32Array::New(env, nRows * width);
      out.data = arr.Data();
      out.size = arr.ElementLength();
      outValue = arr;
    }
    if (margin) {
      forest_.PredictMargin(rows.data, nRows, out.data);
    } else {
      forest_.Predict(rows.data, nRows, out.data);
    }
    return outValue;
  }

  Napi::Value NumFeatures(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), forest_.numFeatures()); }
  Napi::Value NumGroups(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), forest_.numGroups()); }
  Napi::Value NumOutputs(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), forest_.numOutputs()); }

  xgb::Forest forest_;
};

Registrar reg([](Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = JsForest::Define(env);
  Instance(env).constructors.push_back(Napi::Persistent(ctor));
  exports.Set("XgbForest", ctor);
});

}  // namespace
}  // namespace sluice
