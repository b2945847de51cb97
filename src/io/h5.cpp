#include "io/h5.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <numeric>

#include "common/error.hpp"
#include "common/signals.hpp"

namespace cellfit::h5 {

namespace {

struct silence_hdf5 {
  // HDF5 prints its error stack to stderr by default; cellfit reports errors itself.
  silence_hdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }
};
const silence_hdf5 silence_once;

[[noreturn]] void fail(const std::string& file, const std::string& what) {
  throw io_error("cellfit::h5: " + file + ": " + what);
}

hid_t check_id(hid_t id, const std::string& file, const std::string& what) {
  if (id < 0) fail(file, what);
  return id;
}

void check(herr_t status, const std::string& file, const std::string& what) {
  if (status < 0) fail(file, what);
}

// A write that failed: the system's reason (a full disk, a quota) when there is one.
void check_write(herr_t status, const std::string& file, const std::string& what) {
  if (status >= 0) return;
  const int err = errno;
  fail(file, err != 0 ? what + " (" + std::strerror(err) + ")" : what);
}

std::vector<hsize_t> to_hsize(const std::vector<std::size_t>& dims) {
  return std::vector<hsize_t>(dims.begin(), dims.end());
}

std::size_t product(const std::vector<std::size_t>& dims) {
  return std::accumulate(dims.begin(), dims.end(), std::size_t{1}, std::multiplies<>());
}

handle link_creation_props(const std::string& file) {
  handle lcpl(check_id(H5Pcreate(H5P_LINK_CREATE), file, "H5Pcreate"), H5Pclose);
  check(H5Pset_create_intermediate_group(lcpl.get(), 1), file, "H5Pset_create_intermediate_group");
  return lcpl;
}

handle open_object(hid_t loc, const std::string& file, const std::string& object) {
  return handle(check_id(H5Oopen(loc, object.c_str(), H5P_DEFAULT), file,
                         "cannot open object '" + object + "'"),
                H5Oclose);
}

handle string_type(const std::string& file) {
  handle t(check_id(H5Tcopy(H5T_C_S1), file, "H5Tcopy"), H5Tclose);
  check(H5Tset_size(t.get(), H5T_VARIABLE), file, "H5Tset_size");
  check(H5Tset_cset(t.get(), H5T_CSET_UTF8), file, "H5Tset_cset");
  return t;
}

}  // namespace

handle& handle::operator=(handle&& o) noexcept {
  if (this != &o) {
    if (id_ >= 0 && close_) close_(id_);
    id_ = o.id_;
    close_ = o.close_;
    o.id_ = -1;
  }
  return *this;
}

herr_t handle::release() {
  herr_t status = 0;
  if (id_ >= 0 && close_) status = close_(id_);
  id_ = -1;
  return status;
}

handle::~handle() {
  if (id_ >= 0 && close_) close_(id_);
}

file file::create(const std::string& path) {
  errno = 0;
  const hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (id < 0) {
    const int err = errno;
    fail(path, err != 0 ? std::string("cannot create file (") + std::strerror(err) + ")"
                        : std::string("cannot create file"));
  }
  return file(handle(id, H5Fclose), path, true);
}

file file::open_read(const std::string& path) {
  if (FILE* f = std::fopen(path.c_str(), "rb")) {
    std::fclose(f);
  } else {
    fail(path, "cannot open file for reading");
  }
  if (H5Fis_hdf5(path.c_str()) <= 0) fail(path, "not an HDF5 file");
  const hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) fail(path, "cannot open HDF5 file");
  return file(handle(id, H5Fclose), path, false);
}

bool file::exists(const std::string& object) const {
  // Check each prefix: H5Lexists fails on a path whose intermediate group is missing.
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = object.find('/', pos + 1);
    const std::string prefix = object.substr(0, pos);
    if (prefix.empty() || prefix == "/") continue;
    if (H5Lexists(h_.get(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return true;
}

void file::write_numeric(const std::string& name, const void* data, std::size_t size,
                         const std::vector<std::size_t>& dims, hid_t file_type, hid_t mem_type) {
  if (product(dims) != size) throw internal_error("cellfit::h5: shape mismatch for " + name);
  const auto hd = to_hsize(dims);
  handle space(check_id(H5Screate_simple(static_cast<int>(hd.size()), hd.data(), nullptr), path_,
                        "H5Screate_simple"),
               H5Sclose);
  handle lcpl = link_creation_props(path_);
  handle ds(check_id(H5Dcreate2(h_.get(), name.c_str(), file_type, space.get(), lcpl.get(),
                                H5P_DEFAULT, H5P_DEFAULT),
                     path_, "cannot create dataset " + name),
            H5Dclose);
  if (size > 0) {
    errno = 0;
    check_write(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), path_,
                "cannot write dataset " + name);
  }
}

void file::write(const std::string& name, const std::vector<double>& data,
                 const std::vector<std::size_t>& dims) {
  write_numeric(name, data.data(), data.size(), dims, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE);
}

void file::write(const std::string& name, const std::vector<std::int64_t>& data,
                 const std::vector<std::size_t>& dims) {
  write_numeric(name, data.data(), data.size(), dims, H5T_STD_I64LE, H5T_NATIVE_INT64);
}

void file::write(const std::string& name, const std::vector<std::string>& data) {
  const hsize_t n = data.size();
  handle space(check_id(H5Screate_simple(1, &n, nullptr), path_, "H5Screate_simple"), H5Sclose);
  handle type = string_type(path_);
  handle lcpl = link_creation_props(path_);
  handle ds(check_id(H5Dcreate2(h_.get(), name.c_str(), type.get(), space.get(), lcpl.get(),
                                H5P_DEFAULT, H5P_DEFAULT),
                     path_, "cannot create dataset " + name),
            H5Dclose);
  std::vector<const char*> ptrs;
  for (const auto& s : data) ptrs.push_back(s.c_str());
  if (!data.empty()) {
    errno = 0;
    check_write(H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), path_,
                "cannot write dataset " + name);
  }
}

void file::attribute(const std::string& object, const std::string& name, double value) {
  handle obj = open_object(h_.get(), path_, object);
  handle space(check_id(H5Screate(H5S_SCALAR), path_, "H5Screate"), H5Sclose);
  handle a(check_id(H5Acreate2(obj.get(), name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT,
                               H5P_DEFAULT),
                    path_, "cannot create attribute " + object + "@" + name),
           H5Aclose);
  check(H5Awrite(a.get(), H5T_NATIVE_DOUBLE, &value), path_, "cannot write attribute " + name);
}

void file::attribute(const std::string& object, const std::string& name, std::int64_t value) {
  handle obj = open_object(h_.get(), path_, object);
  handle space(check_id(H5Screate(H5S_SCALAR), path_, "H5Screate"), H5Sclose);
  handle a(check_id(H5Acreate2(obj.get(), name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT,
                               H5P_DEFAULT),
                    path_, "cannot create attribute " + object + "@" + name),
           H5Aclose);
  check(H5Awrite(a.get(), H5T_NATIVE_INT64, &value), path_, "cannot write attribute " + name);
}

void file::attribute(const std::string& object, const std::string& name, const std::string& value) {
  handle obj = open_object(h_.get(), path_, object);
  handle space(check_id(H5Screate(H5S_SCALAR), path_, "H5Screate"), H5Sclose);
  handle type = string_type(path_);
  handle a(check_id(H5Acreate2(obj.get(), name.c_str(), type.get(), space.get(), H5P_DEFAULT,
                               H5P_DEFAULT),
                    path_, "cannot create attribute " + object + "@" + name),
           H5Aclose);
  const char* p = value.c_str();
  check(H5Awrite(a.get(), type.get(), &p), path_, "cannot write attribute " + name);
}

handle file::open_dataset(const std::string& name) const {
  if (!exists(name)) fail(path_, "no dataset '" + name + "'");
  return handle(
      check_id(H5Dopen2(h_.get(), name.c_str(), H5P_DEFAULT), path_, "cannot open dataset " + name),
      H5Dclose);
}

std::vector<double> file::read_doubles(const std::string& name,
                                       std::vector<std::size_t>& dims) const {
  handle ds = open_dataset(name);
  handle space(check_id(H5Dget_space(ds.get()), path_, "H5Dget_space"), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) fail(path_, "bad dataspace of " + name);
  std::vector<hsize_t> hd(static_cast<std::size_t>(rank));
  check(H5Sget_simple_extent_dims(space.get(), hd.data(), nullptr), path_, "extent of " + name);
  dims.assign(hd.begin(), hd.end());
  std::vector<double> out(product(dims));
  if (!out.empty()) {
    check(H5Dread(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), path_,
          "cannot read " + name + " as float64");
  }
  return out;
}

std::vector<std::int64_t> file::read_ints(const std::string& name,
                                          std::vector<std::size_t>& dims) const {
  handle ds = open_dataset(name);
  handle space(check_id(H5Dget_space(ds.get()), path_, "H5Dget_space"), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) fail(path_, "bad dataspace of " + name);
  std::vector<hsize_t> hd(static_cast<std::size_t>(rank));
  check(H5Sget_simple_extent_dims(space.get(), hd.data(), nullptr), path_, "extent of " + name);
  dims.assign(hd.begin(), hd.end());
  std::vector<std::int64_t> out(product(dims));
  if (!out.empty()) {
    check(H5Dread(ds.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), path_,
          "cannot read " + name + " as int64");
  }
  return out;
}

std::vector<std::string> file::read_strings(const std::string& name) const {
  handle ds = open_dataset(name);
  handle space(check_id(H5Dget_space(ds.get()), path_, "H5Dget_space"), H5Sclose);
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n < 0) fail(path_, "bad dataspace of " + name);
  handle type = string_type(path_);
  std::vector<char*> ptrs(static_cast<std::size_t>(n), nullptr);
  if (n > 0) {
    check(H5Dread(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), path_,
          "cannot read " + name + " as strings");
  }
  std::vector<std::string> out;
  for (char* p : ptrs) out.emplace_back(p ? p : "");
  if (n > 0) H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, ptrs.data());
  return out;
}

bool file::has_attribute(const std::string& object, const std::string& name) const {
  if (object != "/" && !exists(object)) return false;
  return H5Aexists_by_name(h_.get(), object.c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

double file::read_attribute_double(const std::string& object, const std::string& name) const {
  handle a(
      check_id(H5Aopen_by_name(h_.get(), object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT),
               path_, "no attribute " + object + "@" + name),
      H5Aclose);
  double v = 0;
  check(H5Aread(a.get(), H5T_NATIVE_DOUBLE, &v), path_, "cannot read attribute " + name);
  return v;
}

std::string file::read_attribute_string(const std::string& object, const std::string& name) const {
  handle a(
      check_id(H5Aopen_by_name(h_.get(), object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT),
               path_, "no attribute " + object + "@" + name),
      H5Aclose);
  handle file_type(check_id(H5Aget_type(a.get()), path_, "H5Aget_type"), H5Tclose);
  if (H5Tget_class(file_type.get()) != H5T_STRING) {
    fail(path_, "attribute " + object + "@" + name + " is not a string");
  }
  const htri_t variable = H5Tis_variable_str(file_type.get());
  check(variable, path_, "H5Tis_variable_str");
  if (!variable) {
    const std::size_t size = H5Tget_size(file_type.get());
    std::string s(size, '\0');
    handle mem(check_id(H5Tcopy(H5T_C_S1), path_, "H5Tcopy"), H5Tclose);
    check(H5Tset_size(mem.get(), size + 1), path_, "H5Tset_size");
    std::vector<char> buf(size + 1, '\0');
    check(H5Aread(a.get(), mem.get(), buf.data()), path_, "cannot read attribute " + name);
    return std::string(buf.data());
  }
  handle type = string_type(path_);
  char* p = nullptr;
  check(H5Aread(a.get(), type.get(), &p), path_, "cannot read attribute " + name + " as string");
  std::string s = p ? p : "";
  H5free_memory(p);
  return s;
}

std::vector<std::string> file::members(const std::string& group) const {
  if (!is_group(group)) fail(path_, "no group '" + group + "'");
  // H5Gget_info + H5Lget_name_by_idx: H5Literate's callback type differs across HDF5 versions.
  H5G_info_t info;
  check(H5Gget_info_by_name(h_.get(), group.c_str(), &info, H5P_DEFAULT), path_,
        "cannot list group " + group);
  std::vector<std::string> names;
  for (hsize_t k = 0; k < info.nlinks; ++k) {
    const ssize_t n = H5Lget_name_by_idx(h_.get(), group.c_str(), H5_INDEX_NAME, H5_ITER_INC, k,
                                         nullptr, 0, H5P_DEFAULT);
    if (n < 0) fail(path_, "cannot list group " + group);
    std::vector<char> buf(static_cast<std::size_t>(n) + 1, '\0');
    check(
        static_cast<herr_t>(H5Lget_name_by_idx(h_.get(), group.c_str(), H5_INDEX_NAME, H5_ITER_INC,
                                               k, buf.data(), buf.size(), H5P_DEFAULT) < 0
                                ? -1
                                : 0),
        path_, "cannot list group " + group);
    names.emplace_back(buf.data());
  }
  return names;
}

std::vector<std::string> file::read_reference_paths(const std::string& name,
                                                    const std::string& field) const {
  handle ds = open_dataset(name);
  handle space(check_id(H5Dget_space(ds.get()), path_, "H5Dget_space"), H5Sclose);
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n < 0) fail(path_, "bad dataspace of " + name);
  // A memory type of the one field: HDF5 converts compound members by name.
  handle mem(check_id(H5Tcreate(H5T_COMPOUND, sizeof(hobj_ref_t)), path_, "H5Tcreate"), H5Tclose);
  check(H5Tinsert(mem.get(), field.c_str(), 0, H5T_STD_REF_OBJ), path_, "H5Tinsert");
  std::vector<hobj_ref_t> refs(static_cast<std::size_t>(n));
  if (n > 0) {
    check(H5Dread(ds.get(), mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, refs.data()), path_,
          "cannot read " + name + "." + field + " as object references");
  }
  std::vector<std::string> out;
  for (hobj_ref_t& r : refs) {
    const ssize_t len = H5Rget_name(h_.get(), H5R_OBJECT, &r, nullptr, 0);
    if (len <= 0) {
      out.emplace_back();
      continue;
    }
    std::vector<char> buf(static_cast<std::size_t>(len) + 1, '\0');
    H5Rget_name(h_.get(), H5R_OBJECT, &r, buf.data(), buf.size());
    out.emplace_back(buf.data());
  }
  return out;
}

bool file::is_group(const std::string& object) const {
  if (object != "/" && !exists(object)) return false;
  // H5Iget_type of the opened object: H5Oget_info's signature differs across HDF5 1.10-1.14.
  const hid_t id = H5Oopen(h_.get(), object.c_str(), H5P_DEFAULT);
  if (id < 0) return false;
  const handle h(id, H5Oclose);
  return H5Iget_type(h.get()) == H5I_GROUP;
}

void file::flush() { check(H5Fflush(h_.get(), H5F_SCOPE_GLOBAL), path_, "H5Fflush"); }

// HDF5 1.10 cannot close a file whose final flush fails: H5Fclose frees the file but keeps
// its identifier, and the library's exit handler closes it again (SIGSEGV after the error
// was reported). Pointing the file's descriptor at an anonymous in-memory file first lets
// the close write its metadata somewhere that cannot be full. Only for files being thrown
// away (a failed write): what it writes is discarded.
void file::divert_writes() noexcept {
  void* vfd = nullptr;
  if (H5Fget_vfd_handle(h_.get(), H5P_DEFAULT, &vfd) < 0 || vfd == nullptr) return;
  const int fd = *static_cast<int*>(vfd);  // the sec2 driver's descriptor
  const int mem = ::memfd_create("cellfit-discarded-hdf5", 0);
  if (mem < 0) return;
  ::dup2(mem, fd);
  ::close(mem);
}

file::~file() {
  if (writable_ && h_.get() >= 0) divert_writes();
}

void file::close() {
  // Reserve the file's blocks before the final flush: HDF5 1.10 cannot recover from a flush
  // that fails (the close fails too, and the exit handler crashes on the half-closed file),
  // so a full disk must show up here, where the file can still be thrown away cleanly.
  // Metadata written by the flush lies below the allocated end (filesize); the margin covers
  // what the flush itself may still allocate. File systems without fallocate skip this.
  void* vfd = nullptr;
  hsize_t size = 0;
  if (H5Fget_vfd_handle(h_.get(), H5P_DEFAULT, &vfd) >= 0 && vfd != nullptr &&
      H5Fget_filesize(h_.get(), &size) >= 0) {
    const int fd = *static_cast<int*>(vfd);
    constexpr off_t margin = 64 << 10;
    if (::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(size) + margin) != 0 &&
        (errno == ENOSPC || errno == EDQUOT || errno == EFBIG)) {
      const int err = errno;
      divert_writes();
      h_.release();
      fail(path_, std::string("cannot write the file (") + std::strerror(err) + ")");
    }
  }
  errno = 0;
  if (H5Fflush(h_.get(), H5F_SCOPE_GLOBAL) < 0) {
    const int err = errno;
    divert_writes();
    h_.release();
    fail(path_, std::string("cannot write the file (") + std::strerror(err ? err : EIO) + ")");
  }
  if (h_.release() < 0) fail(path_, "closing the file failed (disk full?)");
}

namespace {

// The temporary file being written: a job killed by a signal (Slurm's scancel, Ctrl-C)
// removes it instead of leaving it behind (common/signals.hpp).
void track_temp(const std::string& path) { signals::set_pending_temp(path.c_str()); }

void untrack_temp() { signals::set_pending_temp(nullptr); }

}  // namespace

std::string follow_links(const std::string& path) {
  std::string p = path;
  for (int hops = 0; hops < 40; ++hops) {  // 40: the kernel's own limit (ELOOP)
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return p;
    std::vector<char> buf(static_cast<std::size_t>(st.st_size > 0 ? st.st_size : 4095) + 1);
    const ssize_t n = ::readlink(p.c_str(), buf.data(), buf.size());
    if (n <= 0 || static_cast<std::size_t>(n) >= buf.size()) return p;
    const std::string target(buf.data(), static_cast<std::size_t>(n));
    const auto slash = p.rfind('/');
    p = target.front() == '/' || slash == std::string::npos ? target
                                                            : p.substr(0, slash + 1) + target;
  }
  return p;
}

int remove_stale_temporaries(const std::string& path) {
  const std::string real = follow_links(path);
  const auto slash = real.rfind('/');
  const std::string dir = slash == std::string::npos ? "./" : real.substr(0, slash + 1);
  const std::string base = slash == std::string::npos ? real : real.substr(slash + 1);
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;
  int removed = 0;
  for (const dirent* e = ::readdir(d); e != nullptr; e = ::readdir(d)) {
    const std::string name = e->d_name;
    std::string pid;
    for (const char* tag : {".tmp.probe.", ".tmp."}) {
      const std::string prefix = base + tag;
      if (name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0) {
        pid = name.substr(prefix.size());
        break;
      }
    }
    if (pid.empty() || pid.size() > 9 || pid.find_first_not_of("0123456789") != std::string::npos)
      continue;
    const long id = std::stol(pid);
    if (id <= 0 || ::kill(static_cast<pid_t>(id), 0) == 0 || errno != ESRCH) continue;
    if (std::remove((dir + name).c_str()) == 0) ++removed;
  }
  ::closedir(d);
  return removed;
}

atomic_output::atomic_output(std::string path)
    : path_(follow_links(path)), temp_(path_ + ".tmp." + std::to_string(::getpid())) {
  track_temp(temp_);
}

atomic_output::~atomic_output() {
  untrack_temp();
  if (!done_) std::remove(temp_.c_str());
}

void atomic_output::commit() {
  if (std::rename(temp_.c_str(), path_.c_str()) != 0) {
    throw io_error("cellfit::h5: cannot rename " + temp_ + " to " + path_ + " (" +
                   std::strerror(errno) + ")");
  }
  done_ = true;
  untrack_temp();
}

}  // namespace cellfit::h5
