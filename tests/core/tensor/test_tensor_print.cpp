// PyTorch-style printing: the strings torch prints, with our dtype suffix.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "core/ops/ops.h"

namespace tensorpar {
namespace {

TEST(TensorPrint, FloatMatrixOfIntegers) {
  EXPECT_EQ(arange(4, DType::Float32).reshape({2, 2}).to_string(),
            "tensor([[0., 1.],\n"
            "        [2., 3.]], dtype=float32)");
}

TEST(TensorPrint, StreamingMatchesToString) {
  Tensor t = arange(3, DType::Float64);
  std::ostringstream os;
  os << t;
  EXPECT_EQ(os.str(), t.to_string());
  EXPECT_EQ(os.str(), "tensor([0., 1., 2.], dtype=float64)");
}

TEST(TensorPrint, IntegersArePaddedToACommonWidth) {
  EXPECT_EQ(from_vector<std::int64_t>({1, -20, 300}, {3}).to_string(),
            "tensor([  1, -20, 300], dtype=int64)");
}

TEST(TensorPrint, FractionsUseFourDecimals) {
  EXPECT_EQ(from_vector<double>({0.5, -1.25, 3.14159}, {3}).to_string(),
            "tensor([ 0.5000, -1.2500,  3.1416], dtype=float64)");
}

TEST(TensorPrint, WideRangesUseScientificNotation) {
  EXPECT_EQ(from_vector<double>({1, 2000}, {2}).to_string(),
            "tensor([1.0000e+00, 2.0000e+03], dtype=float64)");
  EXPECT_EQ(from_vector<double>({0.5, 1e-5}, {2}).to_string(),
            "tensor([5.0000e-01, 1.0000e-05], dtype=float64)");
  EXPECT_EQ(from_vector<double>({1e9}, {1}).to_string(), "tensor([1.0000e+09], dtype=float64)");
}

TEST(TensorPrint, NonFiniteValues) {
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(from_vector<double>({0.1, std::nan(""), -inf}, {3}).to_string(),
            "tensor([0.1000,    nan,   -inf], dtype=float64)");
  EXPECT_EQ(from_vector<float>({1, std::nanf("")}, {2}).to_string(),
            "tensor([1., nan], dtype=float32)");
}

TEST(TensorPrint, ZeroDim) {
  EXPECT_EQ(full({}, 3, DType::BFloat16).to_string(), "tensor(3., dtype=bfloat16)");
  EXPECT_EQ(full({}, -7, DType::Int64).to_string(), "tensor(-7, dtype=int64)");
}

TEST(TensorPrint, EmptyTensorsShowTheirSize) {
  EXPECT_EQ(zeros({0}).to_string(), "tensor([], dtype=float32)");
  EXPECT_EQ(zeros({2, 0}, DType::Int64).to_string(), "tensor([], size=(2, 0), dtype=int64)");
}

TEST(TensorPrint, UndefinedTensor) { EXPECT_EQ(Tensor().to_string(), "tensor(undefined)"); }

TEST(TensorPrint, ThreeDimsSeparateBlocksWithABlankLine) {
  EXPECT_EQ(arange(8).reshape({2, 2, 2}).to_string(),
            "tensor([[[0, 1],\n"
            "         [2, 3]],\n"
            "\n"
            "        [[4, 5],\n"
            "         [6, 7]]], dtype=int64)");
}

TEST(TensorPrint, LongRowsWrapAtEightyColumns) {
  EXPECT_EQ(arange(0, 2.4, 0.1, DType::Float64).to_string(),
            "tensor([0.0000, 0.1000, 0.2000, 0.3000, 0.4000, 0.5000, 0.6000, 0.7000, 0.8000,\n"
            "        0.9000, 1.0000, 1.1000, 1.2000, 1.3000, 1.4000, 1.5000, 1.6000, 1.7000,\n"
            "        1.8000, 1.9000, 2.0000, 2.1000, 2.2000, 2.3000], dtype=float64)");
}

TEST(TensorPrint, SmallTensorsAreNotSummarised) {
  const std::string s = arange(1000).to_string();
  EXPECT_EQ(s.find("..."), std::string::npos);
  EXPECT_NE(s.find("999]"), std::string::npos);
}

TEST(TensorPrint, LargeVectorsAreSummarised) {
  EXPECT_EQ(arange(2000).to_string(),
            "tensor([   0,    1,    2,  ..., 1997, 1998, 1999], dtype=int64)");
}

TEST(TensorPrint, LargeMatricesSummariseRowsAndColumns) {
  // 10.0, 10.1, ..., 119.9: magnitudes within 1000x, so fixed notation of width 8.
  EXPECT_EQ(arange(100, 1200, 1, DType::Float32).reshape({100, 11}).div_(10).to_string(),
            "tensor([[ 10.0000,  10.1000,  10.2000,  ...,  10.8000,  10.9000,  11.0000],\n"
            "        [ 11.1000,  11.2000,  11.3000,  ...,  11.9000,  12.0000,  12.1000],\n"
            "        [ 12.2000,  12.3000,  12.4000,  ...,  13.0000,  13.1000,  13.2000],\n"
            "        ...,\n"
            "        [116.7000, 116.8000, 116.9000,  ..., 117.5000, 117.6000, 117.7000],\n"
            "        [117.8000, 117.9000, 118.0000,  ..., 118.6000, 118.7000, 118.8000],\n"
            "        [118.9000, 119.0000, 119.1000,  ..., 119.7000, 119.8000, 119.9000]],\n"
            "       dtype=float32)");
}

TEST(TensorPrint, SummarisedScientificRowsWrap) {
  EXPECT_EQ(arange(1200, DType::Float64).reshape({2, 600}).to_string(),
            "tensor([[0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 5.9700e+02, 5.9800e+02,\n"
            "         5.9900e+02],\n"
            "        [6.0000e+02, 6.0100e+02, 6.0200e+02,  ..., 1.1970e+03, 1.1980e+03,\n"
            "         1.1990e+03]], dtype=float64)");
}

TEST(TensorPrint, SuffixMovesToANewLineWhenTheLastLineIsFull) {
  EXPECT_EQ(arange(0, 0.9, 0.1, DType::Float64).to_string(),
            "tensor([0.0000, 0.1000, 0.2000, 0.3000, 0.4000, 0.5000, 0.6000, 0.7000, 0.8000],\n"
            "       dtype=float64)");
}

}  // namespace
}  // namespace tensorpar
