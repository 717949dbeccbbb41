// VAE: Kingma, Welling, "Auto-Encoding Variational Bayes", ICLR 2014. Encoder q(z|x) = N(mu,
// diag(sigma^2)) from the DCGAN conv trunk, decoder p(x|z) from the DCGAN generator, prior
// N(0, I). With a Gaussian likelihood of fixed variance 1/2 the negative ELBO per image is
//   L = ||x - Dec(mu + sigma * eps)||^2 + KL(q(z|x) || N(0, I)),
//   KL = -1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2),  eps ~ N(0, I)
// sample(z) decodes prior draws.
#include <torch/torch.h>

#include "models/base.h"
#include "models/registry.h"

namespace gan::models {
namespace {

class Vae : public ModelBase {
 public:
  Vae(const ModelOptions& o, dist::Collectives& c, AutoEncoder net) : ModelBase(o, c), net_(net) {
    add_part("VAE", net_.ptr(), optimizer(*net_, o.lr_g));
  }
  std::string name() const override { return "vae"; }

  // The prior is N(0, I) whatever --noise says.
  torch::Tensor noise(int64_t n, torch::Generator& gen) const override {
    return torch::randn({n, opts_.z_dim}, gen);
  }
  torch::Tensor sample(const torch::Tensor& z) override { return net_->decode(z); }

  StepMetrics train_step(const dataio::Batch& batch) override {
    apply_lr_schedule(batch.step);
    const auto& x = batch.images;
    torch::Tensor stats = net_->encode(x);
    torch::Tensor mu = stats.narrow(1, 0, opts_.z_dim);
    torch::Tensor logvar = stats.narrow(1, opts_.z_dim, opts_.z_dim).clamp(-10, 10);
    torch::Tensor eps = batch_noise(x.size(0));  // drawn for the global batch, like all noise
    torch::Tensor rec = net_->decode(mu + (0.5 * logvar).exp() * eps);
    torch::Tensor recon = (rec - x).pow(2).flatten(1).sum(1).mean();
    torch::Tensor kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean();
    torch::Tensor loss = recon + kl;
    update("VAE", loss);
    StepMetrics m;
    m.add("loss", loss.item<double>());
    m.add("recon", recon.item<double>());
    m.add("kl", kl.item<double>());
    return m;
  }

  // For reconstruction pictures: decode(mean of q(z|x)).
  torch::Tensor reconstruct(const torch::Tensor& x) override {
    return net_->decode(net_->encode(x).narrow(1, 0, opts_.z_dim));
  }

 private:
  AutoEncoder net_;
};

std::unique_ptr<Model> make_vae(const ModelOptions& o, dist::Collectives& coll) {
  AutoEncoder net(torch::nn::AnyModule(DcganDiscriminator(d_spec(o, coll), 2 * o.z_dim)),
                  torch::nn::AnyModule(DcganGenerator(g_spec(o, coll, o.z_dim))));
  init_weights(*net, o.init);
  return std::make_unique<Vae>(o, coll, net);
}

}  // namespace

ModelInfo vae_model() { return {"vae", make_vae, {}, {{"lr", "0.001"}}}; }

}  // namespace gan::models
