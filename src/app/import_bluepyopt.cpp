// cellfit import-bluepyopt: BluePyOpt's config files (io/bluepyopt_import.hpp) as a cellfit
// config, written atomically once everything has been read and checked.

#include <fstream>
#include <iostream>
#include <string>

#include "app/commands.hpp"
#include "common/error.hpp"
#include "io/bluepyopt_import.hpp"
#include "io/h5.hpp"

namespace cellfit::app {

int run_import_bluepyopt(const import_options& o) {
  bluepyopt_import_options io;
  io.config_dir = o.config_dir;
  io.morphology = o.morphology;
  io.replace_axon = o.replace_axon;
  io.dt_ms = o.dt_ms;
  const std::string text = bluepyopt_config_to_toml(io);
  check_writable(o.out, "import-bluepyopt");
  h5::atomic_output out(o.out);
  {
    std::ofstream f(out.temp_path());
    f << text;
    f.close();
    if (!f) throw io_error("cellfit::import: cannot write " + o.out);
  }
  out.commit();
  std::cout << "cellfit import-bluepyopt: wrote " << o.out << "\n";
  return exit_ok;
}

}  // namespace cellfit::app
