#pragma once
// The double-buffered simulate/score pipeline of one rank, and the time spent in each stage.
//
// Schedule (overlap on; chunk k uses buffer k % 2):
//
//   main thread (owns the device)          scoring thread (host cores)
//   simulate(0) -> buffer 0
//   simulate(1) -> buffer 1                score(0) <- buffer 0
//   -- fence: score(0) done; buffer 0 is free again --
//   simulate(2) -> buffer 0                score(1) <- buffer 1
//   -- fence: score(1) done --
//   ...
//                                          score(n-1) <- buffer (n-1) % 2
//   -- fence: score(n-1) done --
//
// simulate(k) runs on the calling thread because the device (a Kokkos execution space
// instance; with the Serial backend, this core) belongs to it; it returns after the
// device-to-host copy, so buffer k % 2 is complete when score(k) starts. The fence before
// simulate(k + 2) is what makes two buffers enough: score(k) has stopped reading buffer k % 2
// before simulate(k + 2) writes it. score(k) writes only its own chunk's results, so the
// outcome does not depend on the interleaving. Without overlap the stages alternate on the
// calling thread (simulate(0), score(0), simulate(1), ...): the reference the bench compares.
//
// A stop request (signal) is polled before each simulate: the chunks not yet started are
// skipped, the ones in flight are finished, and run() returns false.

#include <cstddef>
#include <functional>

namespace cellfit::sched {

// How a rank runs its share ([parallel] in the config).
struct parallel_settings {
  bool overlap = true;              // simulate chunk k+1 while scoring chunk k
  int chunks = 4;                   // pipeline chunks per rank and generation
  std::size_t min_chunk_cells = 0;  // 0: 64 on host cores, 4096 on a GPU
  int score_threads = 0;            // 0: this rank's share of the node's cores, less one
                                    //    for the simulation when overlapping
};

struct stage_times {
  double simulate_s = 0;     // device kernels
  double copy_s = 0;         // layout, host<->device copies (simulate_batch outside its kernel)
  double score_s = 0;        // feature extraction and objectives (host threads)
  double communicate_s = 0;  // collectives (gather, broadcast, reductions)
  double select_s = 0;       // selection and variation (GA) or the optimiser update
  double wall_s = 0;         // the whole generation or epoch

  // (simulate + copy + score) / wall: 1 when the stages run one after another, up to 2 when
  // simulation and scoring overlap completely.
  double overlap_efficiency() const {
    return wall_s > 0 ? (simulate_s + copy_s + score_s) / wall_s : 0.0;
  }
  stage_times& operator+=(const stage_times& o);
};

struct pipeline_stages {
  // simulate(chunk, buffer): simulate the chunk into buffer (0 or 1); blocks until the
  // results are on the host. Returns (kernel seconds, copy seconds).
  std::function<std::pair<double, double>(std::size_t, int)> simulate;
  // score(chunk, buffer): score the chunk from buffer; blocks. Runs on the scoring thread
  // when overlapping.
  std::function<void(std::size_t, int)> score;
  // Polled before each simulate; true stops the pipeline.
  std::function<bool()> stop;
};

// Runs n_chunks chunks through the stages. Adds simulate/copy/score time to `times` (score
// time is the scoring thread's busy time). Returns false when stopped early. Exceptions
// from either stage are rethrown on the calling thread after the other stage has finished.
bool run_pipeline(std::size_t n_chunks, bool overlap, const pipeline_stages& stages,
                  stage_times& times);

}  // namespace cellfit::sched
