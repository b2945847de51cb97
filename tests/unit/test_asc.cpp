// Neurolucida ASC reader: Import3d's sections, names and soma; every malformed file refused
// with file, line and the offending text, never a crash. (Geometry against NEURON itself:
// tests/validation/test_morphology_neuron.py.)
#include <unistd.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "model/asc.hpp"
#include "model/cable_geometry.hpp"
#include "model/morphology.hpp"

namespace {

using cellfit::morphology_error;

const std::string soma_contour =
    "(\"CellBody\"\n"                         // line 1
    "  (Color RGB (255, 255, 128))\n"         // 2
    "  (CellBody)\n"                          // 3
    "  (0 10 0 1) (7 7 0 1) (10 0 0 1)\n"     // 4
    "  (7 -7 0 1) (0 -10 0 1) (-7 -7 0 1)\n"  // 5
    "  (-10 0 0 1) (-7 7 0 1)\n"              // 6
    ")  ;  End of contour\n";                 // 7

std::string refusal(const std::string& text) {
  try {
    cellfit::parse_asc(text, "cell.asc");
  } catch (const morphology_error& e) {
    return e.what();
  }
  return "";
}

std::vector<std::string> names(const cellfit::morphology& m) {
  std::vector<std::string> out;
  for (const auto& s : m.sections) out.push_back(s.name);
  return out;
}

TEST(asc, trees_attach_to_the_soma_centroid_and_are_named_depth_first) {
  const std::string text =
      "; V3 text file written for MicroBrightField products.\n"
      "(ImageCoords)\n" +
      soma_contour +
      "( (Color Yellow)\n"
      "  (Dendrite)\n"
      "  (12 0 0 2) ; Root\n"
      "  (30 0 0 2)\n"
      "  (\n"
      "    (40 10 0 1)\n"
      "    (50 20 0 1)\n"
      "    (\n"
      "      (60 30 0 0.5) Normal\n"
      "    |\n"
      "      (60 10 0 0.5) Incomplete\n"
      "    )\n"
      "  |\n"
      "    (40 -10 0 1)\n"
      "    (50 -20 0 1)\n"
      "    High\n"
      "  )\n"
      ")\n"
      "( (Color Red) (Axon) (0 -12 0 1) (0 -40 0 1) )\n";
  const auto m = cellfit::parse_asc(text, "t.asc");
  EXPECT_EQ(names(m), (std::vector<std::string>{"soma[0]", "dend[0]", "dend[1]", "dend[2]",
                                                "dend[3]", "dend[4]", "axon[0]"}));
  EXPECT_EQ(m.sections[0].points.size(), 21u);  // Import3d's centroid: 21 diameters
  EXPECT_EQ(m.sections[0].type, cellfit::region::soma);
  const std::vector<int> parents = {-1, 0, 1, 2, 2, 1, 0};
  for (std::size_t i = 0; i < parents.size(); ++i) {
    EXPECT_EQ(m.sections[i].parent, parents[i]) << m.sections[i].name;
  }
  // A tree's root is wired to the soma's middle and starts at its own first point; a child
  // starts with its parent's last point, with its own first diameter.
  EXPECT_DOUBLE_EQ(m.sections[1].parent_x, 0.5);
  EXPECT_FLOAT_EQ(m.sections[1].points.front().x, 12.0f);
  EXPECT_EQ(m.sections[2].points.size(), 3u);
  EXPECT_FLOAT_EQ(m.sections[2].points.front().x, 30.0f);
  EXPECT_FLOAT_EQ(m.sections[2].points.front().diam, 1.0f);
  EXPECT_DOUBLE_EQ(m.sections[2].parent_x, 1.0);
  EXPECT_EQ(m.sections[6].type, cellfit::region::axon);
  // The centroid of a symmetric contour lies through its centre.
  const auto& soma = m.sections[0];
  EXPECT_NEAR(soma.mean_diam_um(), 15.0556226, 1e-6);  // NEURON 9.0.2: 15.05562264
  EXPECT_NEAR(soma.length_um(), 18.4722142, 1e-6);     // NEURON 9.0.2: 18.47221416
}

// Markers, spines, colours, names, text, image coordinates, sets and non-soma contours carry
// no geometry; "Cell Body" and "Soma" are somata too.
TEST(asc, markers_spines_text_and_other_contours_are_skipped) {
  std::string soma = soma_contour;
  soma.replace(soma.find("CellBody"), 8, "Soma");
  const std::string text =
      "(Description \"x\")\n(Sections)\n(Dot (Color Red) (Name \"m\") (1 2 3 4))\n"
      "(\"Layer 5\" (Color Blue) (-100 -100 0 1) (100 -100 0 1) (100 100 0 1))\n" +
      soma +
      "( (Color Yellow) (Font \"Arial\" 12) (30 30 0 1) \"a label\")\n"
      "(Set \"all\"\n"
      "( (Color Yellow) (Dendrite)\n"
      "  (12 0 0 2) <(13 2 0 0.3)> (20, 0, 0, 2 S1) (30 0 0 2 (31 0 0 2))\n"
      "  (OpenCircle (Color Red) (Name \"Marker 2\") (25 0 0 2))\n"
      "  (Dot (26 0 0 2))\n"
      "  Generated\n"
      ")\n"
      ")\n";
  const auto m = cellfit::parse_asc(text, "t.asc");
  ASSERT_EQ(names(m), (std::vector<std::string>{"soma[0]", "dend[0]"}));
  ASSERT_EQ(m.sections[1].points.size(), 3u);
  EXPECT_FLOAT_EQ(m.sections[1].points[1].x, 20.0f);
  EXPECT_FLOAT_EQ(m.sections[1].points[2].x, 30.0f);
}

// A tree whose first point is its first branch point: the one-point root is dropped and its
// children hang from the soma's middle, starting at that point. A tree whose last leading
// property is not its type is Import3d's type 0 (dend_0).
TEST(asc, a_split_at_the_first_point_attaches_the_children_to_the_soma) {
  const std::string text = soma_contour +
                           "( (Dendrite)\n"
                           "  (12 0 0 2)\n"
                           "  ( (20 10 0 1) (30 10 0 1) | (20 -10 0 1) (30 -10 0 1) )\n"
                           ")\n"
                           "( (Axon) (Color Red) (0 -12 0 1) (0 -40 0 1) )\n";
  const auto m = cellfit::parse_asc(text, "t.asc");
  ASSERT_EQ(names(m), (std::vector<std::string>{"soma[0]", "dend[0]", "dend[1]", "dend_0[0]"}));
  for (std::size_t i = 1; i <= 2; ++i) {
    EXPECT_EQ(m.sections[i].parent, 0);
    EXPECT_DOUBLE_EQ(m.sections[i].parent_x, 0.5);
    EXPECT_FLOAT_EQ(m.sections[i].points.front().x, 12.0f);
    EXPECT_EQ(m.sections[i].points.size(), 3u);
  }
  EXPECT_EQ(m.sections[3].type, cellfit::region::other);
}

// Overlapping contours form a stack: one soma section with a point per contour.
TEST(asc, stacked_contours_make_one_soma) {
  std::string stack;
  for (int k = 0; k < 3; ++k) {
    stack += "(\"CellBody\" (CellBody)\n";
    const double r = 6 + 2 * k;
    for (int i = 0; i < 10; ++i) {
      const double a = 6.283185307179586 * i / 10;
      stack += "  (" + std::to_string(r * std::cos(a)) + " " + std::to_string(r * std::sin(a)) +
               " " + std::to_string(2 * k) + " 0.5)\n";
    }
    stack += ")\n";
  }
  const auto m = cellfit::parse_asc(stack + "( (Dendrite) (9 0 2 1) (30 0 2 1) )\n", "s.asc");
  ASSERT_EQ(names(m), (std::vector<std::string>{"soma[0]", "dend[0]"}));
  ASSERT_EQ(m.sections[0].points.size(), 3u);
  EXPECT_FLOAT_EQ(m.sections[0].points[2].z, 4.0f);
  EXPECT_NEAR(m.sections[0].length_um(), 4.0, 0.2);
}

TEST(asc, load_morphology_picks_the_reader_by_extension) {
  const std::string dir = ::testing::TempDir();
  const std::string text = soma_contour + "( (Dendrite) (12 0 0 2) (30 0 0 2) )\n";
  for (const std::string name : {"/cell.asc", "/CELL.ASC"}) {
    std::ofstream(dir + name) << text;
    const auto m = cellfit::load_morphology(dir + name);
    EXPECT_EQ(m.sections.size(), 2u);
    EXPECT_EQ(m.source, dir + name);
  }
  std::ofstream(dir + "/cell.txt") << text;
  try {
    cellfit::load_morphology(dir + "/cell.txt");
    ADD_FAILURE() << "an unknown extension was read";
  } catch (const morphology_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("unknown file extension '.txt'"), std::string::npos) << what;
    EXPECT_NE(what.find(".swc, .asc"), std::string::npos) << what;
  }
  EXPECT_THROW(cellfit::load_morphology(dir + "/missing.asc"), cellfit::io_error);
  // A name that reads nothing is an I/O error; a file of an unknown type a morphology error.
  const std::string noext = dir + "/noext_" + std::to_string(::getpid());
  std::remove(noext.c_str());
  EXPECT_THROW(cellfit::load_morphology(noext), cellfit::io_error);
  std::ofstream(noext) << text;
  EXPECT_THROW(cellfit::load_morphology(noext), morphology_error);
  std::remove(noext.c_str());
}

// Each refusal: file and line, what is wrong, and the offending text.
TEST(asc, malformed_files_are_refused_with_file_line_and_value) {
  const std::string tree = "( (Dendrite) (12 0 0 2) (30 0 0 2) )\n";  // line 8 after the soma
  struct refused {
    std::string text, expected;
  };
  const std::vector<refused> cases = {
      {"", "cell.asc:1: no objects"},
      {"; only a comment\n", "cell.asc:1: no objects"},
      {tree, "cell.asc:1: no soma"},
      {soma_contour + "( (Dendrite) (12 0 0 2) (30 0 0 2)\n",
       "cell.asc:8: end of file inside the tree opened on line 8 (unbalanced parentheses)"},
      {soma_contour + tree + ")\n", "cell.asc:9: unbalanced ')'"},
      {soma_contour + "( (Dendrite) (12 0 0 2) (30 0 abc 2) )\n",
       "cell.asc:8: expected ')' to close the point opened on line 8, found 'abc'"},
      {soma_contour + "( (Dendrite) (12 0 0 2) (30 0 0 2.5.1) )\n",
       "cell.asc:8: expected ')' to close the point opened on line 8, found '.1'"},
      {soma_contour + "( (Dendrite) (12 0 0 2) (30 y 0 2) )\n",
       "cell.asc:8: expected the point's y coordinate, found 'y'"},
      {soma_contour + "( (Dendrite) (12 0 0 2) (30 nan 0 2) )\n",
       "cell.asc:8: point (30 nan 0 2): a non-finite value"},
      {soma_contour + "( (Dendrite) (12 0 0 2) (30 1e999 0 2) )\n",
       "cell.asc:8: point (30 inf 0 2): a non-finite value"},
      {soma_contour + "( (Dendrite) (12 0 0 2) (30 0 0 0) )\n",
       "cell.asc:8: point (30 0 0 0): diameter 0 is not positive"},
      {soma_contour + "( (Dendrite) (12 0 0 2) (30 0 0 -1) )\n", "diameter -1 is not positive"},
      {soma_contour + "( (Dendrite) )\n", "cell.asc:8: a tree with no points (found ')'"},
      {soma_contour + "( (Dendrite) ( (12 0 0 2) (30 0 0 2) ) )\n",
       "cell.asc:8: a tree with no points (found '('"},
      {soma_contour + "( (Dendrite) (12 0 0 2) ( (20 0 0 1) | ) )\n",
       "cell.asc:8: a branch with no points (found ')'"},
      {soma_contour + "( (Dendrite) (12 0 0 2) ( (Color Red) | (20 0 0 1) ) )\n",
       "cell.asc:8: a branch with no points"},
      {soma_contour + "( (Dendrite) (12 0 0 2) (Dot (1 2 3 4) Normal\n",
       "end of file inside the marker opened on line 8"},
      {soma_contour + "( (Dendrite) (12 0 0 2) (30 0 0 2) <(31 1 0 1) )\n",
       "cell.asc:8: expected '>' to close the spine opened on line 8, found ')'"},
      {soma_contour + "(\"CellBody\" (Color Red) (Name \"unfinished)\n",
       "cell.asc:8: unterminated string '\"unfinished)'"},
      {soma_contour + "( (Dendrite) (12 0 0 2) @ (30 0 0 2) )\n",
       "cell.asc:8: unexpected character '@'"},
      {soma_contour + "(\"CellBody\" (Color Red))\n",
       "cell.asc:8: contour 'CellBody' has no points"},
      {soma_contour + "( (Color RGB (1, 2)) (Dendrite) (12 0 0 2) (30 0 0 2) )\n",
       "cell.asc:8: expected a colour component, found ')'"},
      {soma_contour + "(12 0 0 2)\n",
       "cell.asc:8: expected a contour, tree, marker or property after '(', found '12'"},
      // Contours that do not overlap are separate somata: Import3d makes a cell of each.
      {soma_contour + "(\"CellBody\" (100 0 0 1) (110 0 0 1) (105 10 0 1))\n" + tree,
       "cell.asc:8: 2 separate soma contours (lines 1, 8)"},
      // A contour with all its points above one another has no shape in the x-y plane.
      {"(\"CellBody\" (5 5 0 1) (5 5 2 1) (5 5 4 1) (5 5 1 1))\n" + tree,
       "cell.asc:1: soma contour: "},
  };
  for (const auto& c : cases) {
    const std::string m = refusal(c.text);
    EXPECT_EQ(m.find("cellfit::asc: cell.asc:"), 0u) << c.expected << "\n-> " << m;
    EXPECT_NE(m.find(c.expected), std::string::npos) << c.expected << "\n-> " << m;
  }
}

TEST(asc, quoted_user_text_is_cut_short) {
  const std::string word(200, 'w');
  const std::string m =
      refusal(soma_contour + "( (Dendrite) (12 0 0 2) (30 0 0 2 7 " + word + ") )\n");
  EXPECT_NE(m.find("found '7'"), std::string::npos) << m;
  const std::string m2 = refusal(soma_contour + "( (Dendrite) (12 0 0 " + word + ") )\n");
  EXPECT_NE(m2.find("'" + std::string(40, 'w') + "...'"), std::string::npos) << m2;
  EXPECT_EQ(m2.find(std::string(41, 'w')), std::string::npos) << m2;
}

// Every prefix of a valid file is either a valid file or refused with a morphology_error:
// no crash, no hang, no other exception.
TEST(asc, every_truncation_is_refused_cleanly) {
  const std::string text = soma_contour +
                           "( (Color Yellow) (Dendrite)\n"
                           "  (12 0 0 2) <(13 1 0 0.3)> (30, 0, 0, 2 S1)\n"
                           "  (Dot (Name \"m\") (31 0 0 1))\n"
                           "  ( (40 10 0 1) (50 20 0 1 (1 2 3 4)) Normal\n"
                           "  | (40 -10 0 1) )\n"
                           ")\n";
  EXPECT_EQ(cellfit::parse_asc(text, "whole.asc").sections.size(), 4u);
  for (std::size_t n = 0; n < text.size(); ++n) {
    try {
      cellfit::parse_asc(text.substr(0, n), "cut.asc");
    } catch (const morphology_error&) {
    }
  }
}

// Nesting deeper than any reconstruction is refused before it exhausts the stack.
TEST(asc, absurd_nesting_is_refused) {
  std::string text = soma_contour + "( (Dendrite) (12 0 0 2)\n";
  for (int k = 0; k < 100000; ++k) text += "( (1 2 3 4)\n";
  const std::string m = refusal(text);
  EXPECT_NE(m.find("nested more than 5000 deep"), std::string::npos) << m.substr(0, 200);
}

}  // namespace
