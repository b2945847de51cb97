#pragma once
// A small RAII layer over the HDF5 C API (Debian has no HighFive). Every HDF5 call is
// checked here, once; a failure throws io_error naming the file and the object.
// Intermediate groups are created on demand, so writers can name "/traces/voltage" directly.

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace cellfit::h5 {

// Owns one hid_t and closes it with the matching H5*close.
class handle {
 public:
  using closer = herr_t (*)(hid_t);
  handle() = default;
  handle(hid_t id, closer close) : id_(id), close_(close) {}
  handle(const handle&) = delete;
  handle& operator=(const handle&) = delete;
  handle(handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  handle& operator=(handle&& o) noexcept;
  ~handle();
  hid_t get() const { return id_; }
  // Closes now and returns the HDF5 status (the destructor cannot report one).
  herr_t release();

 private:
  hid_t id_ = -1;
  closer close_ = nullptr;
};

class file {
 public:
  static file create(const std::string& path);  // truncates
  file(file&&) noexcept = default;
  file& operator=(file&&) = delete;
  // A file created for writing and not closed (an exception on the way): its writes are
  // diverted to memory before HDF5 closes it (see divert_writes()), so a full disk cannot
  // make the close fail; the temporary is removed by its atomic_output.
  ~file();
  static file open_read(const std::string& path);

  const std::string& path() const { return path_; }
  bool exists(const std::string& object) const;

  void write(const std::string& name, const std::vector<double>& data,
             const std::vector<std::size_t>& dims);
  void write(const std::string& name, const std::vector<std::int64_t>& data,
             const std::vector<std::size_t>& dims);
  void write(const std::string& name, const std::vector<std::string>& data);

  // Attributes on an existing object ("/" for the file).
  void attribute(const std::string& object, const std::string& name, double value);
  void attribute(const std::string& object, const std::string& name, std::int64_t value);
  void attribute(const std::string& object, const std::string& name, const std::string& value);

  std::vector<double> read_doubles(const std::string& name, std::vector<std::size_t>& dims) const;
  std::vector<std::int64_t> read_ints(const std::string& name,
                                      std::vector<std::size_t>& dims) const;
  std::vector<std::string> read_strings(const std::string& name) const;
  bool has_attribute(const std::string& object, const std::string& name) const;
  // The names of the links in a group, in name order (NWB files name series freely).
  std::vector<std::string> members(const std::string& group) const;
  bool is_group(const std::string& object) const;
  // The paths of the objects that field `field` (an object reference) of compound dataset
  // `name` points to, one per element ("" for a null reference): NWB's tables link series so.
  std::vector<std::string> read_reference_paths(const std::string& name,
                                                const std::string& field) const;
  double read_attribute_double(const std::string& object, const std::string& name) const;
  // Variable- or fixed-length string attributes (h5py and HDF5 writers use both).
  std::string read_attribute_string(const std::string& object, const std::string& name) const;

  void flush();
  // Closes the file, checking that HDF5 wrote everything (a full disk shows here). Any use
  // after close() throws.
  void close();

 private:
  file(handle h, std::string path, bool writable)
      : h_(std::move(h)), path_(std::move(path)), writable_(writable) {}
  void divert_writes() noexcept;
  handle open_dataset(const std::string& name) const;
  void write_numeric(const std::string& name, const void* data, std::size_t size,
                     const std::vector<std::size_t>& dims, hid_t file_type, hid_t mem_type);
  handle h_;
  std::string path_;
  bool writable_ = false;
};

// The file a path names once symbolic links are followed (the path itself when it is not a
// link, or when a link cannot be read). Outputs are written there, so that a link stays a
// link and the file it points to is replaced.
std::string follow_links(const std::string& path);

// Removes temporaries that an earlier, killed cellfit left beside `path`: "<path>.tmp.<pid>"
// (atomic_output) and "<path>.tmp.probe.<pid>" (the CLI's writability probe) whose process
// no longer runs on this host. Only names cellfit itself makes; returns how many it removed.
int remove_stale_temporaries(const std::string& path);

// Writes to "<path>.tmp.<pid>" and renames onto `path` in commit(): a killed job never
// leaves a half-written file under the final name, and an existing file is only replaced
// by a complete one. The temporary is removed if commit() is never reached. A `path` that
// is a symbolic link is followed (follow_links).
class atomic_output {
 public:
  explicit atomic_output(std::string path);
  ~atomic_output();
  atomic_output(const atomic_output&) = delete;
  atomic_output& operator=(const atomic_output&) = delete;
  const std::string& temp_path() const { return temp_; }
  const std::string& final_path() const { return path_; }
  void commit();

 private:
  std::string path_, temp_;
  bool done_ = false;
};

}  // namespace cellfit::h5
