#pragma once
// Fused optimizer updates, in place over one parameter and its state, as torch.optim's
// single-tensor (foreach=False) loops: SGD with momentum, dampening, nesterov and weight decay;
// Adam with L2 weight decay, AdamW with decoupled decay, both optionally AMSGrad.
//
// param, grad and every state tensor share one shape, dtype (float32 or float64) and device.
// The hyper-parameters are rounded to the dtype once; the bias corrections are the caller's,
// computed in double for the step (so the arithmetic matches torch's to the last bit).
#include "core/tensor/tensor.h"

namespace tensorpar::kernels {

struct SgdHyper {
  double lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
};

// d = grad + weight_decay * param; without momentum param -= lr * d. With momentum (buffer
// defined): buffer = d on the first step, else momentum * buffer + (1 - dampening) * d; then
// param -= lr * (nesterov ? d + momentum * buffer : buffer).
void sgd_update_(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, bool first,
                 const SgdHyper& h);

struct AdamHyper {
  double lr = 0, beta1 = 0, beta2 = 0, eps = 0, weight_decay = 0;
  double step_size = 0;              // lr / (1 - beta1^t)
  double bias_correction2_sqrt = 0;  // sqrt(1 - beta2^t)
  bool decoupled = false;            // AdamW: param *= 1 - lr * weight_decay instead of L2
};

// g = grad (+ weight_decay * param unless decoupled); m = beta1 m + (1 - beta1) g;
// v = beta2 v + (1 - beta2) g^2; with AMSGrad (max_exp_avg_sq defined) vmax = max(vmax, v) is
// used for v; param -= step_size * m / (sqrt(v) / bias_correction2_sqrt + eps).
void adam_update_(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                  Tensor& max_exp_avg_sq, const AdamHyper& h);

}  // namespace tensorpar::kernels
