import Glibc

exit(BenchCommand.run(CommandLine.arguments))
