// Shapes of the shared DCGAN nets at every supported size, and determinism of a step.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/errors.h"
#include "dist/digest.h"
#include "eval/image_stats.h"
#include "models/model.h"
#include "models/nets.h"

using namespace gan;

TEST(Nets, DcganShapesAtEverySize) {
  for (int64_t size : {28, 32, 64}) {
    for (bool bn : {true, false}) {
      models::ConvNetSpec spec{size, 3, 8, bn, 10};
      models::DcganGenerator g(spec);
      models::DcganDiscriminator d(spec, 1);
      auto x = g->forward(torch::randn({2, 10}));
      EXPECT_EQ(x.sizes(), (std::vector<int64_t>{2, 3, size, size}));
      EXPECT_LE(x.abs().max().item<float>(), 1.0f);  // Tanh output
      EXPECT_EQ(d->forward(x).sizes(), (std::vector<int64_t>{2, 1}));
      EXPECT_EQ(g->buffers().empty(), !bn);  // no BatchNorm state without normalisation
    }
  }
  models::ConvNetSpec bad{48, 3, 8, true, 10};
  EXPECT_THROW(models::DcganGenerator{bad}, UsageError);
}

TEST(Models, UnknownModelNamed) {
  dist::LocalCollectives c;
  try {
    models::make_model("stylegan", models::ModelOptions{}, c);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("stylegan"), std::string::npos);
  }
}

TEST(Models, StepIsDeterministic) {
  dist::LocalCollectives c;
  models::ModelOptions o;
  o.global_batch = 4;
  o.g_width = o.d_width = 8;
  std::string digest[2];
  for (int run = 0; run < 2; ++run) {
    torch::manual_seed(3);
    auto m = models::make_model("dcgan", o, c);
    dataio::Batch b;
    b.images = torch::rand({4, 1, 28, 28}) * 2 - 1;
    for (int i = 0; i < 3; ++i) m->train_step(b);
    digest[run] = dist::module_digest(*m->modules()[0].second);
  }
  EXPECT_EQ(digest[0], digest[1]);
}

TEST(ImageStats, IdenticalSetsAreCloseAndShiftedSetsFar) {
  torch::manual_seed(0);
  auto real = torch::rand({256, 1, 8, 8}) * 2 - 1;
  auto same = eval::image_stats_distance(real, real);
  EXPECT_NEAR(same.histogram_l1, 0.0, 1e-9);
  EXPECT_NEAR(same.moment_rmse, 0.0, 1e-9);
  auto gray = eval::image_stats_distance(torch::zeros({256, 1, 8, 8}), real);
  EXPECT_GT(gray.histogram_l1, 1.5);  // all mass in one bin against a flat histogram
  EXPECT_GT(gray.moment_rmse, 0.5);
}
