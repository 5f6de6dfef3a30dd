// test_published_refs.cpp — checks against reference outputs published by others (not made by us):
//   clip.cpp's tests/inputs.bin: Hugging Face CLIPProcessor pixel_values of a 224×224 white JPEG
//   (../shared/data/clip/reference/, made with openai/clip-vit-base-patch32's processor).
#include <cmath>
#include <cstring>
#include <vector>

#include "common.h"
#include "image.h"
#include "test_util.h"

using namespace reco;

TEST_CASE("preprocessing of clip.cpp's white.jpg equals the published HF CLIPProcessor pixel_values") {
    REQUIRE_SHARED_DATA();
    const std::string ref_dir = testutil::shared_data() + "/clip/reference/";
    std::string bin = read_file(ref_dir + "clipcpp_white_pixel_values_f32.bin");
    REQUIRE(bin.size() == (size_t)3 * 224 * 224 * 4);
    std::vector<float> ref(3 * 224 * 224);
    memcpy(ref.data(), bin.data(), bin.size());
    std::vector<float> ours = load_and_preprocess(ref_dir + "clipcpp_white.jpg", 224);
    REQUIRE(ours.size() == ref.size());
    double maxd = 0;
    for (size_t i = 0; i < ref.size(); i++) maxd = std::max(maxd, (double)std::fabs(ours[i] - ref[i]));
    MESSAGE("white.jpg pixel_values max abs diff vs published HF output: " << maxd);
    CHECK(maxd <= 1e-6);
    // the published constants per channel (README of shared/data): (1 - mean) / std
    CHECK(ref[0] == doctest::Approx(1.9303361).epsilon(1e-6));
    CHECK(ref[224 * 224] == doctest::Approx(2.0748837).epsilon(1e-6));
    CHECK(ref[2 * 224 * 224] == doctest::Approx(2.145897).epsilon(1e-6));
}
