// SWC parsing, NEURON Import3d conventions, and every malformed case refused with file,
// line and sample id in the message.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "model/morphology.hpp"
#include "model/swc.hpp"

namespace {

using cellfit::morphology_error;

std::string refusal(const std::string& text) {
  try {
    cellfit::parse_swc(text, "cell.swc");
  } catch (const morphology_error& e) {
    return e.what();
  }
  return "";
}

TEST(swc, parses_comments_and_fields) {
  const auto s = cellfit::parse_swc(
      "# a comment\n1 1 0 0 0 5 -1\n\n2 3 10 0 0 1 1  # trailing\n3 3 20 0 0 0.5 2\n", "x.swc");
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[1].id, 2);
  EXPECT_EQ(s[1].type, 3);
  EXPECT_DOUBLE_EQ(s[2].radius, 0.5);
  EXPECT_EQ(s[2].line, 5);
}

TEST(swc, unknown_parent) {
  const auto m = refusal("1 1 0 0 0 5 -1\n2 3 10 0 0 1 7\n");
  EXPECT_NE(m.find("cell.swc:2"), std::string::npos) << m;
  EXPECT_NE(m.find("sample 2"), std::string::npos) << m;
  EXPECT_NE(m.find("unknown parent id 7"), std::string::npos) << m;
}

TEST(swc, cycle) {
  const auto m = refusal("1 1 0 0 0 5 -1\n2 3 10 0 0 1 4\n3 3 20 0 0 1 2\n4 3 30 0 0 1 3\n");
  EXPECT_NE(m.find("cycle"), std::string::npos) << m;
  EXPECT_NE(m.find("cell.swc:"), std::string::npos) << m;
}

TEST(swc, disconnected_piece) {
  const auto m = refusal("1 1 0 0 0 5 -1\n2 3 10 0 0 1 1\n3 3 50 0 0 1 -1\n4 3 60 0 0 1 3\n");
  EXPECT_NE(m.find("cell.swc:3"), std::string::npos) << m;
  EXPECT_NE(m.find("disconnected"), std::string::npos) << m;
}

TEST(swc, nan_and_non_positive_radius) {
  EXPECT_NE(refusal("1 1 0 0 0 nan -1\n").find("non-finite radius"), std::string::npos);
  EXPECT_NE(
      refusal("1 1 0 0 0 5 -1\n2 3 1 0 0 0 1\n").find("cell.swc:2: sample 2: non-positive radius"),
      std::string::npos);
  EXPECT_NE(refusal("1 1 0 0 0 5 -1\n2 3 1 0 0 -1 1\n").find("non-positive radius"),
            std::string::npos);
  EXPECT_NE(refusal("1 1 0 nan 0 5 -1\n").find("non-finite coordinate"), std::string::npos);
}

TEST(swc, malformed_lines) {
  EXPECT_NE(refusal("1 1 0 0 0 5\n").find("expected 7 fields"), std::string::npos);
  EXPECT_NE(refusal("1 1 0 0 zero 5 -1\n").find("bad z 'zero'"), std::string::npos);
  EXPECT_NE(refusal("1 1 0 0 0 5 -1\n2 3 0 0 0 5 1\n2 3 1 0 0 5 1\n")
                .find("cell.swc:3: sample 2: duplicate id"),
            std::string::npos);
  EXPECT_NE(refusal("# nothing\n").find("no samples"), std::string::npos);
  EXPECT_NE(refusal("1 1 0 0 0 5 1\n").find("its own parent"), std::string::npos);
}

TEST(swc, missing_file_is_an_io_error) {
  EXPECT_THROW(cellfit::read_swc("/nonexistent/cell.swc"), cellfit::io_error);
}

std::string io_refusal(const std::string& path) {
  try {
    cellfit::read_swc(path);
  } catch (const cellfit::io_error& e) {
    return e.what();
  }
  return "";
}

TEST(swc, a_directory_is_an_io_error_and_an_empty_file_has_no_samples) {
  const std::string dir = ::testing::TempDir();
  EXPECT_EQ(io_refusal(dir), "cellfit::swc: " + dir + ": is a directory");
  EXPECT_NE(io_refusal("/nonexistent/cell.swc").find("No such file or directory"),
            std::string::npos);
  try {
    cellfit::read_swc("/dev/null");
    ADD_FAILURE() << "/dev/null read";
  } catch (const morphology_error& e) {
    EXPECT_NE(std::string(e.what()).find("/dev/null: no samples"), std::string::npos) << e.what();
  }
}

TEST(swc, an_unreadable_file_is_an_io_error_with_the_reason) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads any file";
  const std::string path = ::testing::TempDir() + "/unreadable.swc";
  std::ofstream(path) << "1 1 0 0 0 5 -1\n";
  ASSERT_EQ(chmod(path.c_str(), 0), 0);
  EXPECT_NE(io_refusal(path).find("Permission denied"), std::string::npos) << io_refusal(path);
  std::remove(path.c_str());
}

// \n, \r\n and a lone \r (classic Mac OS) all end a line; line numbers count each.
TEST(swc, every_line_ending_counts) {
  const auto cr = cellfit::parse_swc("1 1 0 0 0 5 -1\r2 3 10 0 0 1 1\r3 3 20 0 0 1 2\r", "cr.swc");
  ASSERT_EQ(cr.size(), 3u);
  EXPECT_EQ(cr[2].line, 3);
  const auto mixed =
      cellfit::parse_swc("# c\r\n1 1 0 0 0 5 -1\r2 3 10 0 0 1 1\n\r\n3 3 20 0 0 1 2", "m.swc");
  ASSERT_EQ(mixed.size(), 3u);
  EXPECT_EQ(mixed[0].line, 2);
  EXPECT_EQ(mixed[1].line, 3);
  EXPECT_EQ(mixed[2].line, 5);
  EXPECT_NE(
      refusal("1 1 0 0 0 5 -1\r2 3 10 0 0 1 7\r").find("cell.swc:2: sample 2: unknown parent"),
      std::string::npos);
}

TEST(swc, fields_past_the_seventh_are_refused) {
  EXPECT_EQ(refusal("1 1 0 0 0 5 -1\n2 3 10 0 0 1 1 0.5 extra\n"),
            "cellfit::swc: cell.swc:2: expected 7 fields (id type x y z radius parent), found 9");
}

// Values that are fine as doubles but not as the floats NEURON stores (or that make lengths,
// areas and resistances overflow or vanish) are refused at their own line.
TEST(swc, values_out_of_single_precision_range_name_their_line) {
  const std::string soma = "1 1 0 0 0 5 -1\n";
  EXPECT_EQ(refusal(soma + "2 3 10 0 0 1e-50 1\n"),
            "cellfit::swc: cell.swc:2: sample 2: radius '1e-50' out of range [1e-06, 1e+06] um");
  EXPECT_NE(
      refusal(soma + "2 3 1e300 0 0 1 1\n").find("cell.swc:2: sample 2: x '1e300' out of range"),
      std::string::npos);
  EXPECT_NE(
      refusal(soma + "2 3 0 0 -1e400 1 1\n").find("cell.swc:2: sample 2: z '-1e400' out of range"),
      std::string::npos);
  EXPECT_NE(
      refusal(soma + "2 3 0 0 0 1e-400 1\n").find("cell.swc:2: sample 2: radius '1e-400' out of"),
      std::string::npos);
  EXPECT_NE(refusal(soma + "2 3 0 0 0 1e39 1\n").find("cell.swc:2: sample 2: radius"),
            std::string::npos);
  // The bounds themselves are accepted.
  EXPECT_NO_THROW(cellfit::parse_swc("1 1 -1e9 1e9 0 1e-6 -1\n2 3 0 0 0 1e6 1\n", "b.swc"));
  // A soma sphere reaching out of range.
  EXPECT_THROW(cellfit::morphology_from_swc(
                   cellfit::parse_swc("1 1 1e9 0 0 10 -1\n2 3 0 0 0 1 1\n", "s.swc"), "s.swc"),
               morphology_error);
}

TEST(swc, messages_quote_at_most_forty_bytes_of_a_field_escaped) {
  const std::string huge(1 << 20, '7');
  const auto m = refusal("1 1 0 0 0 5 -1\n2 3 " + huge + "x 0 0 1 1\n");
  EXPECT_EQ(m, "cellfit::swc: cell.swc:2: bad x '" + std::string(40, '7') + "'...");
  const auto esc = refusal("1 1 0 0 0 \x1b[31mred\x01 -1\n");
  EXPECT_EQ(esc, "cellfit::swc: cell.swc:1: bad radius '\\x1b[31mred\\x01'");
}

// A star (one sample with many children) was quadratic in its child count.
TEST(swc, a_star_of_twenty_thousand_children) {
  std::string text = "1 1 0 0 0 5 -1\n";
  const int n = 20000;
  for (int i = 2; i <= n + 1; ++i) {
    text += std::to_string(i) + " 3 " + std::to_string(10 + i % 7) + " " + std::to_string(i % 11) +
            " 1 0.5 1\n";
  }
  const auto m = cellfit::morphology_from_swc(cellfit::parse_swc(text, "star.swc"), "star.swc");
  ASSERT_EQ(m.sections.size(), static_cast<std::size_t>(n) + 1);
  EXPECT_DOUBLE_EQ(m.sections.back().parent_x, 0.5);
}

// Every morphology the reader accepts exports to an SWC file it accepts again.
TEST(swc, export_then_read_works_for_accepted_files) {
  const char* const cases[] = {
      // A dendrite from the first sample of a soma run that hangs from a dendrite (x = 0 of
      // that section): it was written from the run's last sample, onto the same point.
      "1 1 0 0 0 5 -1\n2 3 0 10 0 1 1\n3 1 0 20 0 2 2\n4 1 0 25 0 2 3\n5 1 0 30 0 2 4\n"
      "6 3 0 30 0 1 3\n",
      // A small soma far out in y: the three-point soma's +-r was lost in 9 digits.
      "1 1 1 123456.79 0.1 1e-6 -1\n2 3 123456.789 1e-6 3.3 1 1\n3 3 -1 1 1 3.3 1\n",
      // A multi-sample soma whose first diameter is too small for a sphere at its centre.
      "1 1 10 10 -3 1e-6 -1\n2 1 100 12.5 2.5 3 1\n3 1 7.25 2.5 2.5 2.5 2\n",
      // A soma of several samples with a soma-type child and a dendrite from its middle.
      "1 1 0 0 0 5 -1\n2 1 0 5 0 5 1\n3 1 0 10 0 5 2\n4 1 0 15 0 5 3\n5 3 20 8 0 1 3\n"
      "6 3 30 8 0 1 5\n7 1 -5 0 0 4 1\n",
      // A radius at the lower bound, whose float is below 1e-6 as a double.
      "1 1 0 0 0 1e-6 -1\n2 1 0 -1e-6 0 1e-6 1\n3 1 0 1e-6 0 1e-6 1\n4 3 5 0 0 1 1\n",
  };
  const std::string path = ::testing::TempDir() + "/round_trip.swc";
  for (const char* text : cases) {
    const auto m = cellfit::morphology_from_swc(cellfit::parse_swc(text, "in.swc"), "in.swc");
    cellfit::write_swc(m, path);
    try {
      const auto back = cellfit::load_morphology(path);
      EXPECT_GE(back.sections.size(), 1u);
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what() << "\nfor\n" << text;
    }
  }
  std::remove(path.c_str());
}

TEST(import3d, one_point_soma_becomes_a_cylinder_of_length_diameter) {
  const auto m = cellfit::morphology_from_swc(
      cellfit::parse_swc("1 1 0 0 0 5 -1\n2 3 6 0 0 1 1\n3 3 20 0 0 1 2\n", "a.swc"), "a.swc");
  ASSERT_EQ(m.sections.size(), 2u);
  EXPECT_EQ(m.sections[0].name, "soma[0]");
  EXPECT_NEAR(m.sections[0].length_um(), 10.0, 1e-6);
  EXPECT_EQ(m.sections[0].points.size(), 3u);
  EXPECT_FLOAT_EQ(m.sections[0].points[0].diam, 10.0f);
  // A wire from the soma centre: the dendrite starts at its own first sample.
  EXPECT_EQ(m.sections[1].parent, 0);
  EXPECT_DOUBLE_EQ(m.sections[1].parent_x, 0.5);
  EXPECT_FLOAT_EQ(m.sections[1].points[0].x, 6.0f);
  EXPECT_EQ(m.sections[1].points.size(), 2u);
}

TEST(import3d, three_point_soma_is_a_sphere_and_branches_split_sections) {
  const std::string text =
      "1 1 0 0 0 8 -1\n2 1 0 -8 0 8 1\n3 1 0 8 0 8 1\n"
      "4 3 8 0 0 1 1\n5 3 30 0 0 1 4\n6 3 50 10 0 0.5 5\n7 3 50 -10 0 0.5 5\n"
      "8 4 -8 0 0 2 1\n";
  const auto m = cellfit::morphology_from_swc(cellfit::parse_swc(text, "b.swc"), "b.swc");
  ASSERT_EQ(m.sections.size(), 5u);  // soma, dend 4-5, dend 6, dend 7, apic 8
  EXPECT_NEAR(m.sections[0].length_um(), 16.0, 1e-6);
  EXPECT_FLOAT_EQ(m.sections[0].points[1].diam, 16.0f);
  int apical = 0;
  for (const auto& s : m.sections) apical += s.type == cellfit::region::apical;
  EXPECT_EQ(apical, 1);
  // Dendrite-to-dendrite: the parent's last sample starts the child, at the parent's 1 end.
  const cellfit::section* found = nullptr;
  for (const auto& s : m.sections) {
    if (s.parent == 1) found = &s;
  }
  ASSERT_NE(found, nullptr);
  const auto& child = *found;
  EXPECT_DOUBLE_EQ(child.parent_x, 1.0);
  EXPECT_FLOAT_EQ(child.points.front().x, 30.0f);
  EXPECT_FLOAT_EQ(child.points.front().diam, 2.0f);  // the parent's diameter
}

// Multi-sample somata stay one section; neurites attach at its first point (x = 0, the soma
// point prepended with the neurite's diameter), an interior point (wire at 0.5) or its last
// point (x = 1). Areas are the analytic cylinder areas NEURON's Import3d also gives.
TEST(import3d, multi_sample_soma_attachments) {
  const double pi = 3.14159265358979323846;
  const std::string soma = "1 1 0 0 0 5 -1\n2 1 5 0 0 5 1\n3 1 10 0 0 5 2\n";
  const auto area = [](const std::string& text) {
    const auto m = cellfit::morphology_from_swc(cellfit::parse_swc(text, "s.swc"), "s.swc");
    double a = 0;
    for (const auto& s : m.sections) {
      for (std::size_t k = 1; k < s.points.size(); ++k) {
        const double dx = s.points[k].x - s.points[k - 1].x, dy = s.points[k].y - s.points[k - 1].y;
        a += 3.14159265358979323846 * s.points[k].diam * std::sqrt(dx * dx + dy * dy);
      }
    }
    return std::make_pair(m, a);
  };
  // Interior point: wire, dendrite keeps its own 20 um.
  auto [m1, a1] = area(soma + "4 3 5 10 0 1 2\n5 3 5 30 0 1 4\n");
  ASSERT_EQ(m1.sections.size(), 2u);
  EXPECT_DOUBLE_EQ(m1.sections[1].parent_x, 0.5);
  EXPECT_NEAR(a1, pi * 10 * 10 + pi * 2 * 20, 1e-3);
  // First point: x = 0 and the soma point prepended (30 um).
  auto [m2, a2] = area(soma + "4 3 0 10 0 1 1\n5 3 0 30 0 1 4\n");
  EXPECT_DOUBLE_EQ(m2.sections[1].parent_x, 0.0);
  EXPECT_NEAR(a2, pi * 10 * 10 + pi * 2 * 30, 1e-3);
  // Last point: x = 1.
  auto [m3, a3] = area(soma + "4 3 10 10 0 1 3\n5 3 10 30 0 1 4\n");
  EXPECT_DOUBLE_EQ(m3.sections[1].parent_x, 1.0);
  EXPECT_NEAR(a3, pi * 10 * 10 + pi * 2 * 30, 1e-3);
  // A root that branches continues into its next-line child; the other starts at x = 0.
  auto [m4, a4] = area("1 3 0 0 0 1 -1\n2 3 10 0 0 1 1\n3 3 -10 0 0 1 1\n");
  ASSERT_EQ(m4.sections.size(), 2u);
  EXPECT_DOUBLE_EQ(m4.sections[1].parent_x, 0.0);
  EXPECT_NEAR(a4, 2 * pi * 2 * 10, 1e-3);
}

// Import3d lists and names sections in file order of their first sample: the children of the
// second stem, which come first in the file, are dend[2] and dend[3]; breadth first they would
// be the first stem's.
TEST(import3d, sections_are_named_in_file_order_of_their_first_sample) {
  const std::string text =
      "1 1 0 0 0 5 -1\n"
      "2 3 10 0 0 1 1\n3 3 20 0 0 1 2\n"       // stem A
      "4 3 -10 0 0 1 1\n5 3 -20 0 0 1 4\n"     // stem B
      "6 3 -30 10 0 1 5\n7 3 -30 -10 0 1 5\n"  // B's children
      "8 3 30 10 0 1 3\n9 3 30 -10 0 1 3\n"    // A's children
      "10 4 0 10 0 1 1\n11 4 0 30 0 1 10\n";
  const auto m = cellfit::morphology_from_swc(cellfit::parse_swc(text, "f.swc"), "f.swc");
  const std::vector<std::string> names = {"soma[0]", "dend[0]", "dend[1]", "dend[2]",
                                          "dend[3]", "dend[4]", "dend[5]", "apic[0]"};
  const std::vector<int> parents = {-1, 0, 0, 2, 2, 1, 1, 0};
  const std::vector<float> first_x = {-5, 10, -10, -20, -20, 20, 20, 0};
  ASSERT_EQ(m.sections.size(), names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(m.sections[i].name, names[i]) << i;
    EXPECT_EQ(m.sections[i].parent, parents[i]) << names[i];
    EXPECT_FLOAT_EQ(m.sections[i].points.front().x, first_x[i]) << names[i];
  }
  EXPECT_FLOAT_EQ(m.sections[3].points.back().y, 10.0f);  // dend[2] is sample 6
}

// Parents later in the file than their children (Import3d refuses such files): names still
// follow the file order, the sections themselves stay parent before child.
TEST(import3d, parents_after_children_keep_a_parent_first_order) {
  const auto m = cellfit::morphology_from_swc(
      cellfit::parse_swc("1 1 0 0 0 5 -1\n2 3 -30 0 0 1 3\n3 3 -10 0 0 1 1\n", "p.swc"), "p.swc");
  ASSERT_EQ(m.sections.size(), 3u);
  EXPECT_EQ(m.sections[1].name, "dend[1]");  // sample 3, the parent
  EXPECT_EQ(m.sections[2].name, "dend[0]");  // sample 2, first in the file
  EXPECT_EQ(m.sections[2].parent, 1);
}

// A one-sample section at its parent's last point has zero length: Import3d drops it and its
// children attach to its parent at the same place. Types beyond 4 are named dend_<type>.
TEST(import3d, zero_length_two_point_section_is_dropped) {
  const std::string text =
      "1 1 0 0 0 5 -1\n2 3 10 0 0 1 1\n3 3 20 0 0 1 2\n4 3 20 0 0 0.5 3\n"
      "5 3 30 10 0 0.5 4\n6 3 30 -10 0 0.5 4\n7 3 20 20 0 1 3\n"
      "8 7 0 10 0 1 1\n9 7 0 20 0 1 8\n10 6 0 -10 0 1 1\n11 6 0 -20 0 1 10\n";
  const auto m = cellfit::morphology_from_swc(cellfit::parse_swc(text, "z.swc"), "z.swc");
  ASSERT_EQ(m.sections.size(), 7u);
  const std::vector<std::string> names = {"soma[0]", "dend[0]",   "dend[1]",  "dend[2]",
                                          "dend[3]", "dend_7[0]", "dend_6[0]"};
  for (std::size_t i = 0; i < names.size(); ++i) EXPECT_EQ(m.sections[i].name, names[i]);
  for (int i = 2; i <= 4; ++i) {
    EXPECT_EQ(m.sections[static_cast<std::size_t>(i)].parent, 1);
    EXPECT_DOUBLE_EQ(m.sections[static_cast<std::size_t>(i)].parent_x, 1.0);
  }
  EXPECT_EQ(m.sections[5].type, cellfit::region::other);
}

TEST(import3d, one_sample_non_soma_root_is_refused) {
  EXPECT_THROW(
      cellfit::morphology_from_swc(cellfit::parse_swc("1 3 0 0 0 1 -1\n", "c.swc"), "c.swc"),
      morphology_error);
}

}  // namespace
