#include "dataio/shard.h"

#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <initializer_list>
#include <vector>

#include "core/checked_io.h"
#include "core/errors.h"

namespace gan::dataio {
namespace {

// HDF5 prints its error stack to stderr by default; our exceptions say what went wrong.
struct QuietHdf5 {
  QuietHdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }
};
const QuietHdf5 quiet_hdf5;

void set_string_attr(hid_t obj, const char* name, const std::string& value) {
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, value.empty() ? 1 : value.size());
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(attr, type, value.empty() ? "" : value.c_str());
  H5Aclose(attr);
  H5Sclose(space);
  H5Tclose(type);
}

void set_int_attr(hid_t obj, const char* name, const std::vector<int64_t>& values) {
  hsize_t n = values.size();
  hid_t space = H5Screate_simple(1, &n, nullptr);
  hid_t attr = H5Acreate2(obj, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(attr, H5T_NATIVE_INT64, values.data());
  H5Aclose(attr);
  H5Sclose(space);
}

hid_t make_dataset(hid_t file, const char* name, hid_t type, std::vector<hsize_t> chunk) {
  std::vector<hsize_t> dims(chunk.size()), maxdims(chunk.size());
  for (size_t i = 0; i < chunk.size(); ++i) dims[i] = maxdims[i] = chunk[i];
  dims[0] = 0;
  maxdims[0] = H5S_UNLIMITED;
  hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), maxdims.data());
  hid_t plist = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(plist, static_cast<int>(chunk.size()), chunk.data());
  // No modification times in the object headers: the same images give the same shard bytes
  // (and sha256) on every run, rank and thread count.
  H5Pset_obj_track_times(plist, 0);
  hid_t ds = H5Dcreate2(file, name, type, space, H5P_DEFAULT, plist, H5P_DEFAULT);
  H5Pclose(plist);
  H5Sclose(space);
  return ds;
}

void append_rows(hid_t ds, hid_t mem_type, const void* data, int64_t start, int64_t n,
                 const std::string& path) {
  hid_t space = H5Dget_space(ds);
  int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(rank);
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  H5Sclose(space);
  dims[0] = static_cast<hsize_t>(start + n);
  long long bytes = n * static_cast<long long>(H5Tget_size(mem_type));
  for (int i = 1; i < rank; ++i) bytes *= static_cast<long long>(dims[i]);
  if (H5Dset_extent(ds, dims.data()) < 0)
    raise_storage_error(path, "extending a dataset", errno, bytes);
  space = H5Dget_space(ds);
  std::vector<hsize_t> off(rank, 0), cnt(dims);
  off[0] = static_cast<hsize_t>(start);
  cnt[0] = static_cast<hsize_t>(n);
  H5Sselect_hyperslab(space, H5S_SELECT_SET, off.data(), nullptr, cnt.data(), nullptr);
  hid_t mem = H5Screate_simple(rank, cnt.data(), nullptr);
  herr_t rc = H5Dwrite(ds, mem_type, mem, space, H5P_DEFAULT, data);
  H5Sclose(mem);
  H5Sclose(space);
  if (rc < 0) raise_storage_error(path, "HDF5 write", errno, bytes);
}

void read_rows(hid_t ds, hid_t mem_type, void* dst, int64_t start, int64_t n,
               const std::string& path) {
  hid_t space = H5Dget_space(ds);
  int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(rank);
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  std::vector<hsize_t> off(rank, 0), cnt(dims);
  off[0] = static_cast<hsize_t>(start);
  cnt[0] = static_cast<hsize_t>(n);
  herr_t rc = H5Sselect_hyperslab(space, H5S_SELECT_SET, off.data(), nullptr, cnt.data(), nullptr);
  hid_t mem = H5Screate_simple(rank, cnt.data(), nullptr);
  if (rc >= 0) rc = H5Dread(ds, mem_type, mem, space, H5P_DEFAULT, dst);
  H5Sclose(mem);
  H5Sclose(space);
  if (rc < 0)
    throw DataError(path + ": read of images " + std::to_string(start) + ".." +
                    std::to_string(start + n) + " failed (corrupt shard?)");
}

// True when the dataset stores integers of one of `sizes` bytes and this signedness. The
// reader only accepts the types gan_prep writes (and integer labels of the usual widths):
// HDF5's conversion from odd types (a 38-byte integer, say) reads out of bounds.
bool integer_type(hid_t ds, std::initializer_list<size_t> sizes, H5T_sign_t sign) {
  hid_t t = H5Dget_type(ds);
  if (t < 0) return false;
  const size_t size = H5Tget_size(t);
  const bool ok = H5Tget_class(t) == H5T_INTEGER && H5Tget_sign(t) == sign &&
                  std::find(sizes.begin(), sizes.end(), size) != sizes.end();
  H5Tclose(t);
  return ok;
}

void close_ids(int64_t* labels, int64_t* images, int64_t* file) {
  if (*labels >= 0) H5Dclose(*labels);
  if (*images >= 0) H5Dclose(*images);
  if (*file >= 0) H5Fclose(*file);
  *labels = *images = *file = -1;
}

}  // namespace

ShardWriter::ShardWriter(std::string path, ImageShape shape, int64_t label_dims,
                         int64_t chunk_images, const Recipe& recipe)
    : path_(std::move(path)), tmp_(path_ + ".tmp"), shape_(shape), label_dims_(label_dims) {
  file_ = H5Fcreate(tmp_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file_ < 0) {
    const int err = errno;
    std::remove(tmp_.c_str());  // HDF5 may have created it before failing
    raise_storage_error(tmp_, "creating the shard", err, -1);
  }
  hsize_t chunk = static_cast<hsize_t>(chunk_images);
  images_ = make_dataset(file_, "images", H5T_STD_U8LE,
                         {chunk, hsize_t(shape.h), hsize_t(shape.w), hsize_t(shape.c)});
  if (label_dims == 1) labels_ = make_dataset(file_, "labels", H5T_STD_I64LE, {chunk});
  if (label_dims > 1)
    labels_ = make_dataset(file_, "labels", H5T_STD_I64LE, {chunk, hsize_t(label_dims)});
  set_int_attr(file_, "format_version", {kShardFormatVersion});
  set_string_attr(file_, "source", recipe.source);
  set_int_attr(file_, "crop_box", {recipe.crop_box.begin(), recipe.crop_box.end()});
  set_string_attr(file_, "resize_filter", recipe.filter);
  set_int_attr(file_, "image_shape", {shape.h, shape.w, shape.c});
}

ShardWriter::~ShardWriter() {
  if (file_ >= 0) {  // not closed: an exception unwound us; leave nothing half-written behind
    if (labels_ >= 0) H5Dclose(labels_);
    H5Dclose(images_);
    H5Fclose(file_);
    std::remove(tmp_.c_str());
  }
}

void ShardWriter::append(const uint8_t* images, const int64_t* labels, int64_t n) {
  append_rows(images_, H5T_NATIVE_UINT8, images, count_, n, tmp_);
  if (labels_ >= 0) append_rows(labels_, H5T_NATIVE_INT64, labels, count_, n, tmp_);
  count_ += n;
}

void ShardWriter::close() {
  // Closing a dataset writes the chunks HDF5 still caches: on a full disk that is where the
  // write fails (H5Fclose afterwards succeeds, leaving a sparse file with holes for the lost
  // chunks), so every close is checked.
  int err = 0;
  bool ok = true;
  auto check = [&](herr_t rc) {
    if (rc < 0 && ok) ok = false, err = errno;
  };
  if (labels_ >= 0) check(H5Dclose(labels_));
  check(H5Dclose(images_));
  check(H5Fclose(file_));
  file_ = -1;
  if (!ok) {
    try {  // the free bytes are measured before the partial file is removed
      raise_storage_error(tmp_, "writing the shard's last chunks", err,
                          count_ * shape_.h * shape_.w * shape_.c);  // the images' size
    } catch (...) {
      std::remove(tmp_.c_str());
      throw;
    }
  }
  publish(tmp_, path_);
}

ShardReader::ShardReader(const std::string& path) : path_(path) {
  // No destructor runs when a constructor throws: a refused shard must close what it opened,
  // or HDF5 keeps the file open (and serves its cached metadata to the next open of the path).
  struct CloseOnThrow {
    ShardReader* r;
    ~CloseOnThrow() {
      if (r) close_ids(&r->labels_, &r->images_, &r->file_);
    }
  } guard{this};
  if (::access(path.c_str(), R_OK) != 0) throw DataError(path + ": missing or unreadable");
  file_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file_ < 0) throw DataError(path + ": not a readable HDF5 file (corrupt shard?)");
  images_ = H5Dopen2(file_, "images", H5P_DEFAULT);
  if (images_ < 0) throw DataError(path + ": no `images` dataset");
  if (!integer_type(images_, {1}, H5T_SGN_NONE)) throw DataError(path + ": `images` is not uint8");
  hid_t space = H5Dget_space(images_);
  hsize_t dims[4] = {0, 0, 0, 0};
  int rank = H5Sget_simple_extent_ndims(space);
  if (rank == 4) H5Sget_simple_extent_dims(space, dims, nullptr);
  H5Sclose(space);
  if (rank != 4) throw DataError(path + ": `images` must be [N,H,W,C]");
  count_ = static_cast<int64_t>(dims[0]);
  shape_ = {int64_t(dims[1]), int64_t(dims[2]), int64_t(dims[3])};
  hid_t plist = H5Dget_create_plist(images_);
  hsize_t chunk[4] = {0, 0, 0, 0};
  if (H5Pget_layout(plist) == H5D_CHUNKED) H5Pget_chunk(plist, 4, chunk);
  H5Pclose(plist);
  chunk_images_ = chunk[0] > 0 ? static_cast<int64_t>(chunk[0]) : count_;
  if (H5Lexists(file_, "labels", H5P_DEFAULT) > 0) {
    labels_ = H5Dopen2(file_, "labels", H5P_DEFAULT);
    if (!integer_type(labels_, {1, 2, 4, 8}, H5T_SGN_2) &&
        !integer_type(labels_, {1, 2, 4}, H5T_SGN_NONE))
      throw DataError(path + ": `labels` are not integers");
    hid_t ls = H5Dget_space(labels_);
    hsize_t ld[2] = {0, 0};
    int lr = H5Sget_simple_extent_ndims(ls);
    if (lr >= 1 && lr <= 2) H5Sget_simple_extent_dims(ls, ld, nullptr);
    H5Sclose(ls);
    if (lr < 1 || lr > 2 || static_cast<int64_t>(ld[0]) != count_)
      throw DataError(path + ": `labels` does not match `images`");
    label_dims_ = lr == 1 ? 1 : static_cast<int64_t>(ld[1]);
  }
  guard.r = nullptr;
}

ShardReader::~ShardReader() { close_ids(&labels_, &images_, &file_); }

void ShardReader::read_images(int64_t start, int64_t n, uint8_t* dst) const {
  read_rows(images_, H5T_NATIVE_UINT8, dst, start, n, path_);
}

void ShardReader::read_labels(int64_t start, int64_t n, int64_t* dst) const {
  if (labels_ < 0) throw DataError(path_ + ": has no labels");
  read_rows(labels_, H5T_NATIVE_INT64, dst, start, n, path_);
}

}  // namespace gan::dataio
