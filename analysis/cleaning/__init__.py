"""Cleaning: a raw survey file -> the validated analytic sample and its flow."""
