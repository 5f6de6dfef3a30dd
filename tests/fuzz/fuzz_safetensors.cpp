// fuzz_safetensors.cpp — the safetensors reader (header JSON, dtypes, offsets) and every dtype
// conversion of every tensor it accepts.
#include "fuzz_util.h"
#include "safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = fuzz::as_file(data, size, ".safetensors");
    fuzz::expect_ok_or_error([&] {
        reco::SafeTensors st(path);
        for (const reco::TensorInfo& t : st.tensors()) {
            fuzz::expect_ok_or_error([&] {
                std::vector<float> v = st.to_f32(t.name);
                (void)v;
            });
        }
        (void)st.meta("model");
    });
    return 0;
}
