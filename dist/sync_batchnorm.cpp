#include "dist/sync_batchnorm.h"

#include <torch/torch.h>

namespace gan::dist {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// y = (x - mean) * invstd * w + b with mean and invstd of the global batch. The forward
// statistics are computed outside (they need no autograd: their gradient is folded into the
// closed-form backward below, which needs the global sums of dy and dy * xhat). `count`, the
// global batch's values per channel, is a 0-dim double tensor on x's device: reading it on the
// host would cost a device sync per layer and forward.
struct SyncBnFunction : torch::autograd::Function<SyncBnFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias,
                               const torch::Tensor& mean, const torch::Tensor& invstd,
                               const torch::Tensor& count, int64_t coll_ptr) {
    auto shape = std::vector<int64_t>{1, -1, 1, 1};
    torch::Tensor xhat = (x - mean.view(shape)) * invstd.view(shape);
    ctx->save_for_backward({xhat, weight, invstd, count});
    ctx->saved_data["coll"] = coll_ptr;
    return xhat * weight.view(shape) + bias.view(shape);
  }

  // With L = sum over ranks of each rank's loss (the caller then averages parameter
  // gradients over ranks):
  //   dx = w * invstd * (dy - sum(dy) / n - xhat * sum(dy * xhat) / n)
  // where the sums run over the global batch; dw and db stay local (sync_grads reduces them).
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const torch::Tensor& xhat = saved[0];
    const torch::Tensor& weight = saved[1];
    const torch::Tensor& invstd = saved[2];
    // 0-dim: divides as the host number n did (computed in the gradient's dtype).
    const torch::Tensor& n = saved[3];
    auto* coll = reinterpret_cast<Collectives*>(ctx->saved_data["coll"].toInt());
    torch::Tensor dy = grads[0].contiguous();
    const int64_t c = xhat.size(1);
    torch::Tensor sum_dy = dy.sum({0, 2, 3});
    torch::Tensor sum_dy_xhat = (dy * xhat).sum({0, 2, 3});
    torch::Tensor dx;
    if (ctx->needs_input_grad(0)) {
      torch::Tensor global = coll->allreduce_sum(torch::cat({sum_dy, sum_dy_xhat}));
      auto shape = std::vector<int64_t>{1, -1, 1, 1};
      torch::Tensor g_dy = global.narrow(0, 0, c).view(shape) / n;
      torch::Tensor g_dy_xhat = global.narrow(0, c, c).view(shape) / n;
      dx = (weight * invstd).view(shape) * (dy - g_dy - xhat * g_dy_xhat);
    }
    return {dx,
            sum_dy_xhat,
            sum_dy,
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor()};
  }
};

}  // namespace

torch::Tensor sync_batch_norm(const torch::Tensor& x, const torch::Tensor& weight,
                              const torch::Tensor& bias, Collectives& coll, double eps,
                              torch::Tensor* global_mean, torch::Tensor* global_var,
                              torch::Tensor* global_count) {
  const int64_t c = x.size(1);
  torch::Tensor mean, var, count;
  {
    torch::NoGradGuard no_grad;
    // Sums in double: E[x^2] - E[x]^2 cancels badly in float once ranks' sums are added.
    // Everything stays on x's device, the count included: it is summed with the rest (ranks'
    // batches may differ) and used there, never read back to the host.
    torch::Tensor xd = x.detach().to(torch::kDouble);
    torch::Tensor local = torch::cat({xd.sum({0, 2, 3}), xd.pow(2).sum({0, 2, 3}),
                                      torch::full({1}, double(x.numel() / c), xd.options())});
    torch::Tensor global = coll.allreduce_sum(local);
    count = global.select(0, 2 * c);  // 0-dim; an integer, exact in double
    mean = global.narrow(0, 0, c) / count;
    var = (global.narrow(0, c, c) / count - mean.pow(2)).clamp_min(0);
  }
  torch::Tensor invstd = (var + eps).rsqrt().to(x.scalar_type());
  torch::Tensor y = SyncBnFunction::apply(x, weight, bias, mean.to(x.scalar_type()), invstd, count,
                                          reinterpret_cast<int64_t>(&coll));
  if (global_mean) *global_mean = mean;
  if (global_var) *global_var = var;
  if (global_count) *global_count = count;  // stays a tensor: no host sync
  return y;
}

SyncBatchNorm2dImpl::SyncBatchNorm2dImpl(int64_t num_features, Collectives* coll, double eps,
                                         double momentum)
    : coll_(coll), eps_(eps), momentum_(momentum) {
  weight = register_parameter("weight", torch::ones({num_features}));
  bias = register_parameter("bias", torch::zeros({num_features}));
  running_mean = register_buffer("running_mean", torch::zeros({num_features}));
  running_var = register_buffer("running_var", torch::ones({num_features}));
}

torch::Tensor SyncBatchNorm2dImpl::forward(const torch::Tensor& x) {
  if (!is_training())
    return torch::nn::functional::batch_norm(
        x, running_mean, running_var,
        torch::nn::functional::BatchNormFuncOptions().weight(weight).bias(bias).eps(eps_));
  torch::Tensor mean, var, n;
  torch::Tensor y =
      sync_batch_norm(x, weight, bias, coll_ ? *coll_ : local_, eps_, &mean, &var, &n);
  torch::NoGradGuard no_grad;
  // Same update as BatchNorm (unbiased variance); identical on every rank by construction.
  // n / max(n - 1, 1) on the device, in double: the same IEEE operations as on the host.
  running_mean.mul_(1 - momentum_).add_(momentum_ * mean.to(running_mean.scalar_type()));
  running_var.mul_(1 - momentum_)
      .add_(momentum_ * (var * (n / (n - 1).clamp_min(1))).to(running_var.scalar_type()));
  return y;
}

}  // namespace gan::dist
