// rotary's main job: RoPE on queries and keys for a short prompt, then token-by-token
// decoding with the KV-cache offset, checking that the incremental result equals
// rotating the whole sequence at once.
#include <rotary/rotary.h>

#include <cstdio>
#include <random>
#include <vector>

namespace {

rotary::Array random_heads(int batch, int heads, int tokens, int head_dim, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist;
  std::vector<float> v(size_t(batch) * heads * tokens * head_dim);
  for (float& e : v) e = dist(gen);
  return rotary::Array(v.data(), {batch, heads, tokens, head_dim});
}

}  // namespace

int main() {
  constexpr int kBatch = 2, kQHeads = 8, kKvHeads = 2, kHeadDim = 64, kPrompt = 12, kDecode = 6;
  const int total = kPrompt + kDecode;
  const rotary::nn::RoPE rope(kHeadDim);  // Llama-style: rotate every feature, half-split layout
  std::printf("%s, batch %d, %d query heads, %d key heads, prompt %d tokens, %d decode steps\n",
              rope.to_string().c_str(), kBatch, kQHeads, kKvHeads, kPrompt, kDecode);

  // Projections of the whole sequence (what a model would produce token by token).
  const rotary::Array q_all = random_heads(kBatch, kQHeads, total, kHeadDim, 1);
  const rotary::Array k_all = random_heads(kBatch, kKvHeads, total, kHeadDim, 2);
  const rotary::Array q_whole = rope(q_all), k_whole = rope(k_all);

  // Prefill: the prompt at positions 0..kPrompt-1.
  bool all_equal = true;
  auto compare = [&](const rotary::Array& got, const rotary::Array& whole, int t0, int t1, const char* what) {
    const bool eq = rotary::bit_equal(got.contiguous(), rotary::slice(whole, 2, t0, t1).contiguous());
    std::printf("  %-7s tokens [%2d, %2d): incremental %s whole-sequence result\n", what, t0, t1,
                eq ? "==" : "!=");
    all_equal = all_equal && eq;
  };
  int cache_offset = 0;
  compare(rope(rotary::slice(q_all, 2, 0, kPrompt), cache_offset), q_whole, 0, kPrompt, "q");
  compare(rope(rotary::slice(k_all, 2, 0, kPrompt), cache_offset), k_whole, 0, kPrompt, "k");
  cache_offset += kPrompt;

  // Decode: one token per step, positioned by the cache offset before its key joins the cache.
  for (int step = 0; step < kDecode; ++step, ++cache_offset) {
    const int t = cache_offset;
    compare(rope(rotary::slice(q_all, 2, t, t + 1), cache_offset), q_whole, t, t + 1, "q");
    compare(rope(rotary::slice(k_all, 2, t, t + 1), cache_offset), k_whole, t, t + 1, "k");
  }

  std::printf(all_equal ? "OK: incremental decoding equals the whole-sequence result\n"
                        : "MISMATCH: incremental decoding differs from the whole-sequence result\n");
  return all_equal ? 0 : 1;
}
