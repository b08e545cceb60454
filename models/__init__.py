"""Model catalogue, installation, and the llama-cpp-python LLM and embedding runtimes."""
