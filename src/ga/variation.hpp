#pragma once
// Variation operators on genomes in the unit cube [0, 1]^P (the GA's coordinates: each
// parameter's transform maps its bounds onto [0, 1], see genetic_fit.hpp). Both follow
// Deb's bounded definitions as DEAP implements them (cxSimulatedBinaryBounded,
// mutPolynomialBounded), so eta and the probabilities mean what they mean there.

#include <vector>

#include "ga/random_stream.hpp"

namespace cellfit::ga {

// Simulated binary crossover, bounded to [0, 1]. Each gene is crossed with probability 0.5;
// eta > 0 is the distribution index (large: children close to the parents).
void sbx_crossover(std::vector<double>& a, std::vector<double>& b, double eta, random_stream& r);

// Polynomial mutation, bounded to [0, 1]; each gene mutates with probability gene_prob.
void polynomial_mutation(std::vector<double>& x, double eta, double gene_prob, random_stream& r);

}  // namespace cellfit::ga
