// RoPE modules with scaled frequencies, mirroring mlx-lm's (Llama3RoPE, YarnRoPE, SuScaledRoPE,
// DynamicNTKScalingRoPE; linear scaling is nn::RoPE's `scale`), and mlx-lm's initialize_rope.
// Frequencies follow Hugging Face (rotary/scaling.h); the attention factor is applied by the
// kernel to cos and sin, never by a separate pass over x.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include <nlohmann/json_fwd.hpp>

#include "rotary/array.h"
#include "rotary/nn.h"
#include "rotary/rope.h"
#include "rotary/scaling.h"

namespace rotary::nn {

// A RoPE whose frequencies may depend on the length of the call (largest position + 1).
class ScaledRoPE {
 public:
  virtual ~ScaledRoPE() = default;

  // Rotates x (B, *, T, D) at positions arange(T) + offset.
  Array operator()(const Array& x, int offset = 0) const;
  // ... with an integer offset of shape (), (1,) or (B,).
  Array operator()(const Array& x, const Array& offset) const;
  // Rotates x at any positions (ids, ragged, M-RoPE streams); `length` is the largest position
  // + 1, which selects the frequencies of length-dependent methods.
  Array apply(const Array& x, const Positions& positions, int64_t length) const;

  // The frequencies a call whose largest position is length - 1 rotates with.
  virtual Frequencies frequencies(int64_t length) const = 0;
  // "Llama3RoPE(128, traditional=false)"
  virtual std::string to_string() const = 0;

  int dims() const { return dims_; }
  bool traditional() const { return traditional_; }

 protected:
  ScaledRoPE(int dims, bool traditional);

 private:
  int dims_;
  bool traditional_;
};

// Fixed frequencies given directly (the loader's default, linear and M-RoPE cases).
class FrequencyRoPE : public ScaledRoPE {
 public:
  FrequencyRoPE(int dims, bool traditional, Frequencies freqs);
  Frequencies frequencies(int64_t) const override { return freqs_; }
  std::string to_string() const override;

 private:
  Frequencies freqs_;
};

class Llama3RoPE : public ScaledRoPE {
 public:
  Llama3RoPE(int dims, int64_t max_position_embeddings = 2048, bool traditional = false,
             double base = 10000, const scaling::Llama3Params& params = {});
  Frequencies frequencies(int64_t) const override { return freqs_; }
  std::string to_string() const override;

 private:
  Frequencies freqs_;
};

class YarnRoPE : public ScaledRoPE {
 public:
  YarnRoPE(int dims, bool traditional = false, int64_t max_position_embeddings = 2048,
           double base = 10000, const scaling::YarnParams& params = {});
  Frequencies frequencies(int64_t) const override { return freqs_; }
  std::string to_string() const override;
  double mscale() const { return freqs_.attention_factor; }  // mlx-lm's name for it

 private:
  Frequencies freqs_;
};

// LongRoPE (Phi-3). per_call (HF, default) picks the factors from each call's largest position;
// serving_length (vLLM, and mlx-lm's behaviour) uses the long factors for every call when
// max_position_embeddings exceeds the original length.
class SuScaledRoPE : public ScaledRoPE {
 public:
  SuScaledRoPE(int dims, double base, int64_t max_position_embeddings,
               const scaling::LongRopeParams& params,
               scaling::LongRopePolicy policy = scaling::LongRopePolicy::per_call,
               bool traditional = false);
  Frequencies frequencies(int64_t length) const override;
  std::string to_string() const override;

 private:
  double base_;
  int64_t max_position_embeddings_;
  scaling::LongRopeParams params_;
  scaling::LongRopePolicy policy_;
};

// Dynamic NTK as a pure function of each call's length (HF's version is stateful).
class DynamicNTKScalingRoPE : public ScaledRoPE {
 public:
  DynamicNTKScalingRoPE(int dims, int64_t max_position_embeddings = 2048, bool traditional = false,
                        double base = 10000, double factor = 1.0);
  Frequencies frequencies(int64_t length) const override;
  std::string to_string() const override;

 private:
  int64_t max_position_embeddings_;
  double base_;
  double factor_;
};

// Either MLX's nn::RoPE (default and linear, as mlx-lm returns) or a ScaledRoPE.
class AnyRoPE {
 public:
  AnyRoPE(RoPE rope) : module_(std::move(rope)) {}
  AnyRoPE(std::shared_ptr<const ScaledRoPE> rope) : module_(std::move(rope)) {}

  Array operator()(const Array& x, int offset = 0) const;
  Array operator()(const Array& x, const Array& offset) const;
  std::string to_string() const;

  const RoPE* rope() const { return std::get_if<RoPE>(&module_); }
  const ScaledRoPE* scaled() const;

 private:
  std::variant<RoPE, std::shared_ptr<const ScaledRoPE>> module_;
};

// mlx-lm's initialize_rope: dispatches on scaling_config["type"] or ["rope_type"] (null or an
// empty object: default). default/linear/mrope -> RoPE (linear: scale 1/factor), llama3 ->
// Llama3RoPE, yarn/deepseek_yarn -> YarnRoPE, longrope/su -> SuScaledRoPE, dynamic ->
// DynamicNTKScalingRoPE. Missing keys and unknown types throw std::invalid_argument.
AnyRoPE initialize_rope(int dims, double base, bool traditional,
                        const nlohmann::json& scaling_config,
                        std::optional<int64_t> max_position_embeddings = std::nullopt);

}  // namespace rotary::nn
