#include "comm/mpi_context.hpp"

#include <cstdlib>
#include <cstring>
#include <limits>

namespace cellfit::comm {

namespace {

// Every MPI call goes through here once.
void check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {0};
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw error(std::string("cellfit::comm: ") + call + " failed: " + text);
}

int to_int(std::size_t n, const char* what) {
  if (n > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw error(std::string("cellfit::comm: ") + what + " of " + std::to_string(n) +
                " values is more than one MPI message can hold");
  }
  return static_cast<int>(n);
}

class mpi_context final : public context {
 public:
  explicit mpi_context(MPI_Comm user) {
    check(MPI_Comm_dup(user, &comm_), "MPI_Comm_dup");
    check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
    MPI_Comm node;
    check(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
          "MPI_Comm_split_type");
    check(MPI_Comm_rank(node, &local_rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(node, &local_size_), "MPI_Comm_size");
    check(MPI_Comm_free(&node), "MPI_Comm_free");
  }
  ~mpi_context() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }
  mpi_context(const mpi_context&) = delete;
  mpi_context& operator=(const mpi_context&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }
  std::string name() const override { return "mpi"; }

  void sum(std::vector<double>& v) const override {
    check(MPI_Allreduce(MPI_IN_PLACE, v.data(), to_int(v.size(), "a sum"), MPI_DOUBLE, MPI_SUM,
                        comm_),
          "MPI_Allreduce");
  }
  long long max(long long x) const override {
    long long r = 0;
    check(MPI_Allreduce(&x, &r, 1, MPI_LONG_LONG, MPI_MAX, comm_), "MPI_Allreduce");
    return r;
  }
  void broadcast(std::vector<double>& v, int root) const override {
    unsigned long long n = v.size();
    check(MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, root, comm_), "MPI_Bcast");
    v.resize(static_cast<std::size_t>(n));
    check(MPI_Bcast(v.data(), to_int(v.size(), "a broadcast"), MPI_DOUBLE, root, comm_),
          "MPI_Bcast");
  }
  void broadcast(std::string& s, int root) const override {
    unsigned long long n = s.size();
    check(MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, root, comm_), "MPI_Bcast");
    s.resize(static_cast<std::size_t>(n));
    check(MPI_Bcast(s.data(), to_int(s.size(), "a broadcast"), MPI_CHAR, root, comm_), "MPI_Bcast");
  }
  std::vector<double> gather(const std::vector<double>& local, int root,
                             std::vector<std::size_t>* counts) const override {
    return gatherv(local, root, counts, false);
  }
  std::vector<double> gather_all(const std::vector<double>& local,
                                 std::vector<std::size_t>* counts) const override {
    return gatherv(local, 0, counts, true);
  }
  void barrier() const override { check(MPI_Barrier(comm_), "MPI_Barrier"); }
  context_ptr split(int color) const override {
    MPI_Comm part;
    check(MPI_Comm_split(comm_, color, rank_, &part), "MPI_Comm_split");
    auto ctx = std::make_shared<mpi_context>(part);  // duplicates part
    check(MPI_Comm_free(&part), "MPI_Comm_free");
    return ctx;
  }

 private:
  std::vector<double> gatherv(const std::vector<double>& local, int root,
                              std::vector<std::size_t>* counts, bool all) const {
    const int n = to_int(local.size(), "a gather");
    std::vector<int> sizes(static_cast<std::size_t>(size_)), offsets(sizes.size());
    if (all) {
      check(MPI_Allgather(&n, 1, MPI_INT, sizes.data(), 1, MPI_INT, comm_), "MPI_Allgather");
    } else {
      check(MPI_Gather(&n, 1, MPI_INT, sizes.data(), 1, MPI_INT, root, comm_), "MPI_Gather");
    }
    std::vector<double> out;
    if (all || rank_ == root) {
      std::size_t total = 0;
      for (std::size_t r = 0; r < sizes.size(); ++r) {
        offsets[r] = to_int(total, "a gather");
        total += static_cast<std::size_t>(sizes[r]);
      }
      out.resize(total);
      if (counts) counts->assign(sizes.begin(), sizes.end());
    }
    if (all) {
      check(MPI_Allgatherv(local.data(), n, MPI_DOUBLE, out.data(), sizes.data(), offsets.data(),
                           MPI_DOUBLE, comm_),
            "MPI_Allgatherv");
    } else {
      check(MPI_Gatherv(local.data(), n, MPI_DOUBLE, out.data(), sizes.data(), offsets.data(),
                        MPI_DOUBLE, root, comm_),
            "MPI_Gatherv");
    }
    return out;
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
};

}  // namespace

context_ptr make_mpi_context(MPI_Comm comm) { return std::make_shared<mpi_context>(comm); }

bool launched_by_mpi() {
  if (const char* force = std::getenv("CELLFIT_MPI")) return std::strcmp(force, "0") != 0;
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMI_SIZE", "PMIX_RANK",
                           "MPI_LOCALNRANKS", "MV2_COMM_WORLD_SIZE"}) {
    if (std::getenv(name)) return true;
  }
  return false;
}

mpi_session::mpi_session(int& argc, char**& argv) {
  int provided = 0;
  check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  if (provided < MPI_THREAD_FUNNELED) {
    throw error("cellfit::comm: the MPI library does not support MPI_THREAD_FUNNELED");
  }
}

mpi_session::~mpi_session() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void abort_world(int exit_code) {
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);
}

}  // namespace cellfit::comm
