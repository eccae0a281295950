namespace CcxProxy; internal static class Program { private static void Main() {} }
