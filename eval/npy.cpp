#include "eval/npy.h"

#include <torch/torch.h>

#include <cstring>
#include <fstream>
#include <regex>

#include "core/checked_io.h"
#include "core/errors.h"

namespace gan::eval {
namespace {

constexpr char kMagic[] = "\x93NUMPY";

const char* descr(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat:
      return "<f4";
    case torch::kDouble:
      return "<f8";
    case torch::kLong:
      return "<i8";
    default:
      return nullptr;
  }
}

}  // namespace

void write_npy(const std::string& path, const torch::Tensor& tensor) {
  torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
  const char* d = descr(t.scalar_type());
  if (!d) throw std::invalid_argument("write_npy: only float32, float64 and int64 tensors");
  std::string shape = "(";
  for (int64_t i = 0; i < t.dim(); ++i) shape += std::to_string(t.size(i)) + ",";
  if (t.dim() > 1) shape.pop_back();  // (n,) for one dimension, (n, d) otherwise
  shape += ")";
  std::string header =
      std::string("{'descr': '") + d + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64 and
  // ended by a newline, as the format asks.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string bytes(kMagic, 6);
  bytes += '\x01';
  bytes += '\x00';
  bytes += static_cast<char>(header.size() & 0xff);
  bytes += static_cast<char>(header.size() >> 8);
  bytes += header;
  bytes.append(static_cast<const char*>(t.data_ptr()), t.nbytes());
  write_file_atomic(path, bytes);
}

torch::Tensor read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path + ": cannot be opened");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < 10 || bytes.compare(0, 6, kMagic, 6) != 0 || bytes[6] != 1)
    throw DataError(path + ": not a version 1 .npy file");
  const size_t hlen = static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8);
  if (bytes.size() < 10 + hlen) throw DataError(path + ": header cut short");
  const std::string header = bytes.substr(10, hlen);
  std::smatch m;
  static const std::regex re(
      R"('descr':\s*'([<|][fi][48])'.*'fortran_order':\s*False.*'shape':\s*\(([0-9, ]*)\))");
  if (!std::regex_search(header, m, re)) throw DataError(path + ": unsupported header " + header);
  torch::ScalarType type = m[1] == "<f4"   ? torch::kFloat
                           : m[1] == "<f8" ? torch::kDouble
                           : m[1] == "<i8" ? torch::kLong
                                           : torch::kByte;
  if (type == torch::kByte) throw DataError(path + ": unsupported dtype " + m[1].str());
  std::vector<int64_t> shape;
  const std::string dims = m[2];
  for (size_t i = 0; i < dims.size();) {
    size_t j = dims.find(',', i);
    if (j == std::string::npos) j = dims.size();
    std::string tok = dims.substr(i, j - i);
    tok.erase(0, tok.find_first_not_of(' '));
    if (!tok.empty()) shape.push_back(std::stoll(tok));
    i = j + 1;
  }
  torch::Tensor t = torch::empty(shape, type);
  if (bytes.size() != 10 + hlen + t.nbytes())
    throw DataError(path + ": " + std::to_string(bytes.size() - 10 - hlen) +
                    " data bytes, the header promises " + std::to_string(t.nbytes()));
  std::memcpy(t.data_ptr(), bytes.data() + 10 + hlen, t.nbytes());
  return t;
}

}  // namespace gan::eval
