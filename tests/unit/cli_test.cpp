// The training option set: each model's own settings come from its declaration (models/), are
// offered once per key, resolve to the chosen model's paper values unless given, are checked
// against their declared range, and travel through the recorded config.
#include "train/cli.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace gan;

namespace {

// gan_dist's parse, as apps/gan_dist.cpp does it (without the path rules).
train::TrainOptions parse(std::vector<std::string> args, std::string* config = nullptr) {
  train::TrainOptions o;
  CLI::App app;
  train::define_train_options(app, o);
  args.insert(args.begin(), {"--data", "d", "--out", "o", "--steps", "1"});
  std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector
  app.parse(args);
  train::resolve_train_options(app, o);
  if (config) *config = app.config_to_str(true, false);
  return o;
}

}  // namespace

TEST(ModelSettings, ResolveToTheChosenModelsPaperValuesUnlessGiven) {
  auto wgan = parse({"--model", "wgan"});
  EXPECT_EQ(wgan.model_opts.int_param("n-critic"), 5);
  EXPECT_EQ(wgan.model_opts.param("clip"), 0.01);
  EXPECT_EQ(wgan.model_opts.optimizer, models::OptimizerKind::kRmsProp);
  EXPECT_EQ(wgan.model_opts.lr_g, 5e-5);
  EXPECT_EQ(wgan.model_opts.lr_d, 5e-5);

  std::string config;
  auto began = parse({"--model", "began", "--gamma", "0.5", "--lr", "0.0003"}, &config);
  EXPECT_EQ(began.model_opts.param("gamma"), 0.5);
  EXPECT_EQ(began.model_opts.param("lambda-k"), 0.001);
  EXPECT_EQ(began.model_opts.lr_g, 3e-4);  // given: the paper's 1e-4 does not apply
  EXPECT_NE(config.find("gamma=0.5\n"), std::string::npos) << config;
  EXPECT_NE(config.find("lambda-k=0.001\n"), std::string::npos) << config;

  // The recorded config rebuilds the same settings (gan_eval, --resume).
  auto again = train::options_from_config(config);
  EXPECT_EQ(again.model_opts.params, began.model_opts.params);
  EXPECT_EQ(again.model, "began");
}

TEST(ModelSettings, AKeyDeclaredByTwoModelsIsOneOptionNamingBoth) {
  train::TrainOptions o;
  CLI::App app;
  train::define_train_options(app, o);
  EXPECT_EQ(app.get_option("--n-critic")->get_description(),
            "wgan, wgan-gp: critic steps per G step");
  EXPECT_EQ(app.get_option("--hidden")->get_description(),
            "ebgan, began: autoencoder bottleneck size");
  EXPECT_EQ(app.get_option("--gp-lambda")->get_description(), "wgan-gp: gradient penalty weight");
  // --help lists them in a section of their own.
  EXPECT_EQ(app.get_option("--gamma")->get_group(),
            "Model settings (each read only by the models it names)");
  EXPECT_NE(app.help().find("Model settings (each read only by the models it names):"),
            std::string::npos);
}

TEST(ModelSettings, ValuesOutsideTheDeclaredRangeAreRefusedNamingTheProblem) {
  struct Case {
    std::vector<std::string> args;
    const char* says;
  };
  const Case cases[] = {
      {{"--n-critic", "2.5"}, "2.5 is not a whole number"},
      {{"--n-critic", "0"}, "0 is not in [1, inf)"},
      {{"--gamma", "1.5"}, "1.5 is not in [0, 1]"},
      {{"--clip", "0"}, "0 is not positive"},
      {{"--pt-weight", "-1"}, "-1 is negative"},
      {{"--margin", "abc"}, "'abc' is not a number"},
  };
  for (const auto& c : cases) {
    try {
      parse(c.args);
      ADD_FAILURE() << c.args[0] << " " << c.args[1] << " was accepted";
    } catch (const CLI::ParseError& e) {
      EXPECT_NE(std::string(e.what()).find(c.says), std::string::npos)
          << c.args[0] << ": " << e.what();
    }
  }
}

// A word of a closed set becomes its enum at parse time and is recorded as the same word (CLI11
// writes true and false unquoted, as for any string option), so
// config.toml reads as before and rebuilds the same run; a model's default (WGAN's RMSProp)
// goes the same way.
TEST(Choices, WordsBecomeEnumsOnceAndAreRecordedAsWords) {
  std::string config;
  auto o = parse({"--model", "wgan", "--norm", "sync", "--overlap", "false", "--sampling",
                  "sharded", "--grad-compress", "bf16", "--backend", "mpi"},
                 &config);
  EXPECT_EQ(o.model_opts.norm, models::Norm::kSync);
  EXPECT_EQ(o.model_opts.init, models::Init::kNormal);  // not given: the default
  EXPECT_EQ(o.overlap, train::Overlap::kOff);
  EXPECT_EQ(o.sampling, dataio::Sampling::Sharded);
  EXPECT_EQ(o.grad_compress, dist::Compression::kBf16);
  EXPECT_EQ(o.backend, dist::Backend::kMpi);
  for (const char* line :
       {"norm=\"sync\"\n", "init=\"normal\"\n", "overlap=false\n", "sampling=\"sharded\"\n",
        "grad-compress=\"bf16\"\n", "optimizer=\"rmsprop\"\n", "sample-weights=\"ema\"\n"})
    EXPECT_NE(config.find(line), std::string::npos) << line << "\n" << config;
  auto again = train::options_from_config(config);
  EXPECT_EQ(again.model_opts.norm, models::Norm::kSync);
  EXPECT_EQ(again.model_opts.optimizer, models::OptimizerKind::kRmsProp);
  EXPECT_EQ(again.overlap, train::Overlap::kOff);
  EXPECT_EQ(again.sampling, dataio::Sampling::Sharded);
  EXPECT_EQ(again.grad_compress, dist::Compression::kBf16);

  EXPECT_THROW(parse({"--norm", "layer"}), CLI::ValidationError);
}
